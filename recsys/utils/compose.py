"""Compose the repository's Hydra configs from code (tests, scripts, notebooks)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import recsys


def compose_config(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
    """``conf/<config_name>.yaml`` composed with ``overrides``, as ``python train.py`` would."""
    with initialize_config_dir(config_dir=str(recsys.REPO_ROOT / "conf"), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides or []))
