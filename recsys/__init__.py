"""recsys: config-composed two-tower recommender systems on MovieLens-scale data."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[1]

# `${repo_root:}` in conf/ points at the checkout, so runs work from any working directory.
OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)
