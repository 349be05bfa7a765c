"""recsys: config-composed two-tower recommender systems on MovieLens-scale data."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import execution_whitelist
from omegaconf import OmegaConf

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[1]

# `${repo_root:}` in conf/ points at the checkout, so runs work from any working directory.
OmegaConf.register_resolver("repo_root", lambda: str(REPO_ROOT), replace=True)

# Hydra 1.4 asks trusted code to name the modules a config's `_target_` may come from
# (https://hydra.cc/docs/advanced/execution_whitelist/): train.py and eval.py pass these to
# @hydra.main, and importing recsys makes them the default for code that instantiates configs
# outside a Hydra job (tests, notebooks, the installed commands).
TRUSTED_TARGETS = ("recsys.*", "torch.*", "pytorch_lightning.*")
execution_whitelist(list(TRUSTED_TARGETS)).__enter__()
