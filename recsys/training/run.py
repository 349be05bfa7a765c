"""``train(cfg)``: check the config, prepare data, fit the configured model, write the run directory.

The run directory (Hydra's output dir) receives the resolved config, ``checkpoints/`` (best and
last), ``metrics.json`` and the exported embeddings. ``train`` returns ``(metrics, objects)``;
the metric a sweeper optimises is ``metrics["val"][<optimized_metric without "val/">]``, named
by ``optimized_metric`` in ``conf/train.yaml`` (never the test split).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.lit.datamodule import InteractionDataModule
from recsys.training.build import is_neural
from recsys.training.ensemble import fit_ensemble
from recsys.training.fit import fit_baseline, fit_two_tower
from recsys.training.preflight import preflight
from recsys.training.records import metrics_record
from recsys.training.tracking import log_run
from recsys.training.resume import is_resume
from recsys.utils.atomic import json_safe, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)


def command_line_overrides() -> list[str]:
    """The overrides of the running ``@hydra.main`` job (empty outside one, e.g. in tests)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def optimized_value(cfg: DictConfig, metrics: dict[str, Any]) -> float | list[float] | None:
    """What the run returns to a sweeper: the value of ``cfg.optimized_metric`` (``val/ndcg@10``)
    in ``metrics``, or the list of the ``cfg.sweep_objectives`` values for a multi-objective sweep."""
    if not metrics:
        return None

    def value(metric: str) -> float | None:
        split, _, name = str(metric).partition("/")
        return metrics.get(split, {}).get(name)

    objectives = cfg.get("sweep_objectives")
    return [value(m) for m in objectives] if objectives else value(cfg.optimized_metric)


def build_datamodule(cfg: DictConfig) -> InteractionDataModule:
    """The configured datamodule (``conf/datamodule``) with the evaluation protocol."""
    # a partial, so the protocol object is passed as it is (instantiate would turn kwargs into config)
    return instantiate(cfg.datamodule, _partial_=True)(data=cfg.data, protocol=instantiate(cfg.eval))


def train(cfg: DictConfig, overrides: list[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one configured experiment end to end.

    Args:
        cfg: the composed ``conf/train.yaml`` (for a resumed run, the run's own saved config:
            :func:`recsys.training.resume.resume_config`).
        overrides: the command-line overrides, used to warn about options the model ignores
            (default: those of the running Hydra job).

    Returns:
        ``(metrics, objects)``: the content of ``metrics.json`` and the live objects (model,
        trainer, data) for callers such as tests and notebooks.
    """
    preflight(cfg, command_line_overrides() if overrides is None else overrides)
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resuming = is_resume(cfg)
    if not resuming:  # a resumed run keeps its record until it has started successfully
        write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()  # sizes and features are needed to build the model
    datamodule.setup("fit")
    if cfg.get("ensemble_seeds"):
        reports, objects = fit_ensemble(cfg, datamodule, output_dir, fit_two_tower)
    else:
        fit = fit_two_tower if is_neural(cfg.model) else fit_baseline
        reports, objects = fit(cfg, datamodule, output_dir)
    if resuming:
        write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if not reports:  # DDP ranks other than 0
        return {}, objects
    metrics = {
        "model": cfg.model.get("_target_"),
        "data": cfg.data.name,
        "split": cfg.data.split.name,
        **metrics_record(reports, objects["train_seconds"], objects["eval_seconds"], objects.get("best_checkpoint", "")),
        **({"members": objects["members"]} if "members" in objects else {}),
        "run_dir": str(output_dir),
    }
    metrics = json_safe(metrics)  # what metrics.json holds: NaN (an empty activity bucket) is null
    write_json_atomic(output_dir / "metrics.json", metrics)
    log_run(cfg, metrics, objects, output_dir)
    return metrics, objects
