"""``compile_mode``: torch.compile's mode for ``compile_step``, checked when the module is built."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recsys.lit.two_tower_module import COMPILE_MODES, TwoTowerModule
from recsys.training.run import train
from tests.compose import compose_train


def test_unknown_compile_mode_is_refused_before_anything_is_built() -> None:
    with pytest.raises(ValueError, match="compile_mode must be one of default, "):
        TwoTowerModule(model=None, loss=None, optimizer=None, compile_step=True, compile_mode="fast")


def test_train_yaml_default_is_a_known_mode() -> None:
    from recsys.utils.compose import compose_config

    assert compose_config("train", []).compile_mode in COMPILE_MODES


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])  # CUDA graphs are skipped on CPU
def test_compiled_step_trains_in_each_mode(tmp_path: Path, processed_root: Path, bundled_dataset, mode: str) -> None:
    cfg = compose_train(tmp_path, processed_root, ["compile_step=true", f"compile_mode={mode}", "+trainer.limit_train_batches=4"])
    metrics, objects = train(cfg)
    module = objects["trainer"].lightning_module
    assert module._compiled_batch_loss is not None and module.compile_mode == mode
    assert math.isfinite(metrics["val"]["ndcg@10"]) and metrics["test"]["ndcg@10"] > 0
