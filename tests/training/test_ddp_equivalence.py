"""DDP over 2 CPU processes (gloo) trains the model a single process with the doubled batch trains.

Each DDP step holds exactly the rows of the single process's step (``TensorBatches``), the loss is
a mean over rows that needs no random draw (``model=mf loss=full_softmax``: no dropout, no sampled
negatives, the catalogue as candidates) and DDP averages the ranks' gradients, so both runs take
the same optimizer steps. Not bit for bit: the mean over 2 x 1024 rows is summed in another order
(two per-rank means, then gloo's all-reduce) than one mean over 2048 rows, so weights differ by
float32 rounding (~1e-7 measured); the ranking metrics came out identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import recsys
from recsys.training.run import train
from tests.compose import compose_train

BATCH = 1024  # per rank; the single process uses 2 * BATCH
SETTINGS = ["model=mf", "loss=full_softmax", "trainer.max_epochs=2", "export_embeddings=false"]
SPLITS = ("val", "test")


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory, processed_root: Path, bundled_dataset) -> tuple[dict, dict]:
    """One process with the global batch 2 * BATCH (shared by the tests below)."""
    cfg = compose_train(tmp_path_factory.mktemp("single"), processed_root, [*SETTINGS, f"batch_size={2 * BATCH}"])
    return train(cfg, overrides=[])


def assert_same_metrics(ddp: dict[str, Any], single: dict[str, Any]) -> None:
    for split in SPLITS:
        assert ddp[split].keys() == single[split].keys()
        for name, value in single[split].items():
            if isinstance(value, float):
                assert ddp[split][name] == pytest.approx(value, rel=1e-5, abs=1e-9), (split, name)


def _weights(checkpoint: str) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.")}


def assert_same_weights(ddp_checkpoint: str, single_checkpoint: str) -> None:
    ddp, single = _weights(ddp_checkpoint), _weights(single_checkpoint)
    assert ddp.keys() == single.keys()
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_ddp_spawn_equals_single_process_with_the_global_batch(tmp_path: Path, processed_root: Path, single_run) -> None:
    """~80 s for each of the two runs on this 2-core machine (under load)."""
    cfg = compose_train(tmp_path, processed_root, [*SETTINGS, "trainer=ddp_sim", f"batch_size={BATCH}"])
    metrics, objects = train(cfg, overrides=[])
    assert objects["trainer"].world_size == 2
    single, _ = single_run
    assert_same_metrics(metrics, single)
    assert Path(metrics["best_checkpoint"]).name == Path(single["best_checkpoint"]).name  # same epoch chosen
    assert_same_weights(metrics["best_checkpoint"], single["best_checkpoint"])


@pytest.mark.slow
def test_in_batch_softmax_under_ddp_sees_the_global_batch(tmp_path: Path, processed_root: Path) -> None:
    """The in-batch softmax (the default loss) gathers every rank's positives as candidates
    (``recsys/lit/batch_gather.py``), so 2 ranks train what one process with the doubled batch
    trains (log-Q correction and duplicate masks over the global batch)."""
    settings = ["model=mf", "loss=softmax", "trainer.max_epochs=2", "export_embeddings=false"]
    single, _ = train(compose_train(tmp_path / "single", processed_root, [*settings, f"batch_size={2 * BATCH}"]), overrides=[])
    ddp, objects = train(compose_train(tmp_path / "ddp", processed_root, [*settings, "trainer=ddp_sim", f"batch_size={BATCH}"]),
                         overrides=[])
    assert objects["trainer"].world_size == 2
    assert_same_metrics(ddp, single)
    assert_same_weights(ddp["best_checkpoint"], single["best_checkpoint"])


@pytest.mark.slow
def test_torchrun_equals_single_process_with_the_global_batch(tmp_path: Path, processed_root: Path, single_run) -> None:
    """``torchrun --standalone --nproc_per_node=2 train.py trainer=ddp_cpu``: each rank a ``train.py``
    of its own in one shared run directory; rank 0 alone writes ``metrics.json``."""
    run_dir = tmp_path / "runs" / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(recsys.REPO_ROOT / "train.py"), *SETTINGS, "trainer=ddp_cpu", f"batch_size={BATCH}",
        "logger=none", "trainer.enable_progress_bar=false", f"data.processed_root={processed_root}",
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]  # one run directory for both ranks
    assert done.stdout.count("run directory:") == 1  # only rank 0 prints the metrics
    metrics = json.loads((run_dir / "metrics.json").read_text())
    single, _ = single_run
    assert_same_metrics(metrics, single)
    assert_same_weights(metrics["best_checkpoint"], single["best_checkpoint"])
