"""Build the service's :class:`Recommender` from ``conf/serve/serve.yaml`` and a bundle folder.

The BentoML service (``service.py``) calls :func:`build_recommender` in a background thread;
tests call it directly. Nothing here imports BentoML.
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path
from typing import Any

from hydra.utils import execution_whitelist, instantiate
from omegaconf import DictConfig

import recsys
from recsys.explain.build import build_explainer, build_monitor, check_explain_settings
from recsys.explain.monitor import ExplanationMonitor
from recsys.serving.bundle import ServingBundle
from recsys.serving.foldin import FoldIn
from recsys.serving.recommender import Recommender
from recsys.utils.compose import compose_config

log = logging.getLogger(__name__)
SERVE_CONFIG_DIR = recsys.REPO_ROOT / "conf" / "serve"
EXPLAIN_CONFIG_ROOT = recsys.REPO_ROOT / "conf"
OVERRIDES_ENV = "RECSYS_SERVE"


def serve_config(overrides: list[str] | None = None) -> DictConfig:
    """``conf/serve/serve.yaml`` with ``overrides``, after those of the ``RECSYS_SERVE`` variable.

    Invalid settings fail here, before any model is loaded.
    """
    env = shlex.split(os.environ.get(OVERRIDES_ENV, ""))
    search_path = f"hydra.searchpath=[file://{EXPLAIN_CONFIG_ROOT}]"  # conf/explain/ is the explain group
    cfg = compose_config("serve", [search_path, *env, *(overrides or [])], config_dir=SERVE_CONFIG_DIR)
    check_explain_settings(cfg.explain)
    with execution_whitelist(list(recsys.TRUSTED_TARGETS)):
        instantiate(cfg.tiers)  # validates
        instantiate(cfg.limits)
    FoldIn(**cfg.fold_in)
    if int(cfg.workers) < 1:
        raise ValueError(f"workers={cfg.workers}: use 1 or more worker processes")
    if int(cfg.workers) > 1 and "MemoryCache" in str(cfg.cache.get("_target_", "")):
        log.warning(
            "workers=%s with cache=memory: each worker keeps its own cache, so a profile created on one worker "
            "is unknown to the others; use cache=redis (RECSYS_SERVE='workers=%s cache=redis')", cfg.workers, cfg.workers
        )
    if int(cfg.max_body_bytes) < 1024:
        raise ValueError(f"max_body_bytes={cfg.max_body_bytes} is too small for any request: use >= 1024")
    return cfg


def build_recommender(
    bundle_path: str | Path, cfg: DictConfig, cache: Any = None, monitor: ExplanationMonitor | None = None
) -> Recommender:
    """The recommender of the bundle at ``bundle_path`` under the settings ``cfg``.

    Args:
        cache: reuse this cache (a re-index keeps the service's cache: keys carry the model version).
        monitor: reuse this explanation monitor (one per process); a new one (without Prometheus
            metrics) when None.
    """
    from recsys.serving.onboarding import OnboardingPicker

    bundle = ServingBundle.load(bundle_path)
    with execution_whitelist(list(recsys.TRUSTED_TARGETS)):  # also in the service's loading thread
        retriever = instantiate(cfg.retriever)(bundle)
        cache = cache if cache is not None else instantiate(cfg.cache)
        tiers, limits = instantiate(cfg.tiers), instantiate(cfg.limits)
    picker = OnboardingPicker(bundle.items[bundle.items["popularity"] > 0], n=int(cfg.onboarding.n))
    monitor = monitor if monitor is not None else build_monitor(cfg.explain, prometheus=False)
    explainer = build_explainer(cfg.explain, bundle, cache, monitor)
    return Recommender(
        bundle,
        retriever,
        cache,
        tiers=tiers,
        fold_in=FoldIn(temperature=float(bundle.manifest.get("temperature", 0.1)), **cfg.fold_in),
        limits=limits,
        explainer=explainer,
        onboarding=picker.pick,
        monitor=monitor,
    )
