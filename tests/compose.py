"""Compose the real ``conf/train.yaml`` for tests: CPU, tiny limits, no logger, a temp run dir."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, open_dict

from recsys.utils.compose import compose_config

FAST = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "logger=none",
    "batch_size=2048",
]


def compose_train(tmp_path: Path, processed_root: Path, overrides: list[str] | None = None) -> DictConfig:
    cfg = compose_config(
        "train",
        [*FAST, f"paths.output_dir={tmp_path}", f"data.processed_root={processed_root}", *(overrides or [])],
    )
    with open_dict(cfg):
        cfg.callbacks.pop("progress_bar", None)
    return cfg
