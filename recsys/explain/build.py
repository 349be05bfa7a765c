"""The service's explainer from ``conf/explain/<option>.yaml`` (the ``explain`` group of
``conf/serve/serve.yaml``): the template, or an LLM provider with its prompt, grounding check,
cache, time budget and monitor."""

from __future__ import annotations

import os
from typing import Any

from hydra.utils import execution_whitelist, instantiate
from omegaconf import DictConfig

import recsys
from recsys.explain.grounding import GroundingCheck
from recsys.explain.llm import LLMExplainer
from recsys.explain.monitor import ExplanationMonitor, PrometheusSink
from recsys.explain.pairs import PairExplainer
from recsys.explain.template import TemplateExplainer


def uses_llm(cfg: DictConfig) -> bool:
    return cfg.get("provider") is not None


def check_explain_settings(cfg: DictConfig) -> None:
    """Refuse invalid ``explain`` settings at start-up, before any model is loaded."""
    context = cfg.get("context") or {}
    for name in ("n_nearest", "n_top_genres", "n_recent"):
        if int(context.get(name, 1)) < 1:
            raise ValueError(f"explain.context.{name}={context.get(name)}: use >= 1")
    if not uses_llm(cfg):
        return
    with execution_whitelist(list(recsys.TRUSTED_TARGETS)):
        instantiate(cfg.prompt)  # validates its fields
    variable = str(cfg.provider.get("api_key_env", ""))
    if variable and not os.environ.get(variable):
        raise ValueError(
            f"explain.provider.api_key_env={variable}: the variable is not set; export {variable}=<key> "
            "(a local server that needs no key accepts any value) or serve with explain=template"
        )
    for name in ("budget_s", "cache_ttl"):
        if not float(cfg[name]) > 0:
            raise ValueError(f"explain.{name}={cfg[name]}: use a positive number of seconds")
    if int(cfg.max_concurrency) < 1:
        raise ValueError(f"explain.max_concurrency={cfg.max_concurrency}: use >= 1")
    for model, price in (cfg.get("prices") or {}).items():
        if set(price) != {"input", "output"} or min(float(price["input"]), float(price["output"])) < 0:
            raise ValueError(f"explain.prices.{model}: give input and output in USD per million tokens (>= 0)")


def build_monitor(cfg: DictConfig, prometheus: bool = True) -> ExplanationMonitor:
    """The process's monitor (create it once: its Prometheus metrics are registered once)."""
    sink = PrometheusSink() if prometheus and uses_llm(cfg) else None
    return ExplanationMonitor(prices=dict(cfg.get("prices") or {}), sink=sink, log_dir=cfg.get("log_dir"))


def build_explainer(cfg: DictConfig, bundle: Any, cache: Any, monitor: ExplanationMonitor) -> PairExplainer:
    """The template explainer, or the LLM explainer of ``cfg.provider`` falling back to it."""
    context = {k: int(v) for k, v in (cfg.get("context") or {}).items()}
    if not uses_llm(cfg):
        return PairExplainer(bundle, TemplateExplainer(), **context)
    with execution_whitelist(list(recsys.TRUSTED_TARGETS)):
        provider = instantiate(cfg.provider)
        prompt = instantiate(cfg.prompt)
    genres = sorted({g for gs in bundle.items["genres"] for g in gs})
    explainer = LLMExplainer(
        provider,
        prompt,
        GroundingCheck(bundle.items["title"], genres, list(cfg.banned)),
        cache=cache,
        cache_ttl=float(cfg.cache_ttl),
        model_version=bundle.version,
        budget_s=float(cfg.budget_s),
        max_concurrency=int(cfg.max_concurrency),
        monitor=monitor,
    )
    return PairExplainer(bundle, explainer, **context)
