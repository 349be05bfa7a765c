"""Compose the repository's Hydra configs from code (tests, commands, notebooks).

The one place where configs are composed outside ``@hydra.main`` (``train.py``, ``eval.py``).
"""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import recsys


def compose_config(
    config_name: str = "train", overrides: list[str] | None = None, config_dir: Path | None = None
) -> DictConfig:
    """``<config_dir>/<config_name>.yaml`` composed with ``overrides``, as ``python train.py`` would.

    Args:
        config_name: the primary config, e.g. ``train`` or ``evaluate``.
        overrides: Hydra override strings (``data=ml_100k``, ``trainer.max_epochs=1``).
        config_dir: the config tree; the repository's ``conf/`` unless given.
    """
    root = Path(config_dir) if config_dir is not None else recsys.REPO_ROOT / "conf"
    with initialize_config_dir(config_dir=str(root)):
        return compose(config_name=config_name, overrides=list(overrides or []))
