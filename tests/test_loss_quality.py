"""Every documented loss, at its defaults, trains a model that beats popularity (slow).

Each case trains briefly on the bundled ml-latest-small (random split) through the real config
(``tests.compose``: CPU, no logger, a temp run dir) and must beat the popularity baseline, computed
by the same harness, on val NDCG@10. The full-length numbers are in
``experiments/losses_ml_latest_small.md``. Run with ``pytest -m slow tests/test_loss_quality.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.training.run import train
from tests.compose import compose_train

pytestmark = pytest.mark.slow

# (overrides, epochs): enough to clear popularity with a margin on 2 CPU cores, no more.
CASES = [
    pytest.param(["model=two_tower", "loss=mse"], 4, id="two_tower-mse"),
    pytest.param(["model=two_tower", "loss=bpr"], 3, id="two_tower-bpr"),
    pytest.param(["model=two_tower", "loss=combined"], 3, id="two_tower-combined"),
    pytest.param(["model=two_tower", "loss=softmax"], 3, id="two_tower-softmax"),
    pytest.param(["model=two_tower", "loss=sampled_softmax"], 3, id="two_tower-sampled_softmax"),
    pytest.param(["model=two_tower", "loss=full_softmax"], 2, id="two_tower-full_softmax"),
    pytest.param(["model=mf", "loss=mse"], 8, id="mf-mse"),
    pytest.param(["model=mf", "loss=bpr"], 3, id="mf-bpr"),
]
# The defaults of conf/train.yaml (tests.compose.FAST shrinks the batch for speed; not here).
DEFAULTS = ["batch_size=1024", "export_embeddings=false"]


@pytest.fixture(scope="module")
def popularity_val_ndcg(tmp_path_factory: pytest.TempPathFactory, processed_root: Path, bundled_dataset) -> float:
    cfg = compose_train(tmp_path_factory.mktemp("popularity"), processed_root, ["model=popularity", *DEFAULTS])
    metrics, _ = train(cfg)
    return metrics["val"]["ndcg@10"]


@pytest.mark.parametrize(("overrides", "epochs"), CASES)
def test_loss_beats_popularity(
    overrides: list[str], epochs: int, tmp_path: Path, processed_root: Path, popularity_val_ndcg: float
) -> None:
    cfg = compose_train(tmp_path, processed_root, [*overrides, *DEFAULTS, f"trainer.max_epochs={epochs}"])
    metrics, _ = train(cfg)
    ndcg = metrics["val"]["ndcg@10"]
    assert ndcg > popularity_val_ndcg, f"{overrides}: val ndcg@10 {ndcg:.4f} <= popularity {popularity_val_ndcg:.4f}"
