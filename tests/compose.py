"""Compose the real ``conf/train.yaml`` for tests: CPU, tiny limits, no logger, a temp run dir."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import recsys

FAST = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "logger=none",
    "batch_size=512",
]


def compose_train(tmp_path: Path, processed_root: Path, overrides: list[str] | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=str(recsys.REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*FAST, f"paths.output_dir={tmp_path}", f"data.processed_root={processed_root}", *(overrides or [])],
        )
    with open_dict(cfg):
        cfg.callbacks.pop("progress_bar", None)
    return cfg
