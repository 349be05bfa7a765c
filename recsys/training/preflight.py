"""Checks that run before any data is processed, so a bad setting costs seconds, not a run.

:func:`preflight` instantiates every cheap part of the config (evaluation protocol, re-ranker,
loss, optimizer, scheduler, datamodule settings) so their constructors refuse invalid values,
type-checks the trainer's numeric settings, fails when the machine cannot run the trainer or the
run directory cannot hold checkpoints, and warns about options that do not apply to the model.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.evaluation.metrics import METRIC_NAMES
from recsys.training.build import ConfigError, check_accelerator, is_neural

log = logging.getLogger(__name__)

# trainer field -> smallest allowed integer (max_epochs=-1 means no limit)
TRAINER_INTEGERS = {
    "max_epochs": -1,
    "min_epochs": 0,
    "num_nodes": 1,
    "log_every_n_steps": 1,
    "check_val_every_n_epoch": 1,
    "accumulate_grad_batches": 1,
    "num_sanity_val_steps": -1,
}
# top-level groups that only configure neural training
TRAINING_GROUPS = ("loss", "negatives", "optimizer", "scheduler", "user_tower", "item_tower", "callbacks")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_trainer(trainer_cfg: DictConfig) -> None:
    """Integer trainer settings are integers in range (``trainer.max_epochs=abc`` fails here)."""
    for key, low in TRAINER_INTEGERS.items():
        value = trainer_cfg.get(key)
        if value is None:
            continue
        if not _is_int(value) or value < low or (key == "max_epochs" and value == 0):
            raise ConfigError(f"trainer.{key} must be an integer >= {max(low, 1) if key == 'max_epochs' else low}"
                              f"{' (or -1: no limit)' if key == 'max_epochs' else ''}, got {value!r}; e.g. trainer.{key}=20")
    devices = trainer_cfg.get("devices")
    if not (devices == "auto" or _is_int(devices) and (devices >= 1 or devices == -1) or OmegaConf.is_list(devices)):
        raise ConfigError(f"trainer.devices must be a positive integer, -1 (all), a list of ids or 'auto', got {devices!r}")
    check_accelerator(trainer_cfg)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def check_checkpoint_dirs(callbacks_cfg: DictConfig | None) -> None:
    """Every checkpoint folder can be created and written (Lightning would swallow the error)."""
    for name, node in (callbacks_cfg or {}).items():
        if node is None or "dirpath" not in node or node.get("dirpath") is None:
            continue
        folder = Path(node.dirpath)
        probe = folder / f".write-test-{uuid.uuid4().hex[:8]}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise ConfigError(f"callbacks.{name} cannot write checkpoints to {folder} ({error.strerror}); "
                              f"make it writable or choose another hydra.run.dir") from error


def check_metric_name(key: str, metric: Any, ks: Any) -> None:
    """``metric`` must be ``val/<metric>@K`` with a known metric and K in ``eval.ks``."""
    metric = str(metric)
    name, _, k = metric.partition("@")
    known = name.startswith("val/") and name[len("val/"):] in METRIC_NAMES
    if not known or not k.isdigit() or int(k) not in ks:
        raise ConfigError(
            f"{key}: {metric!r} is not a validation metric; use 'val/<metric>@K' with <metric> one of "
            f"{list(METRIC_NAMES)} and K in eval.ks={list(ks)}"
        )


def check_parts(cfg: DictConfig) -> None:
    """Instantiate the cheap parts so that their constructors validate their settings."""
    instantiate(cfg.data, _convert_="all")  # the data set's constructor checks its settings; nothing is read
    protocol = instantiate(cfg.eval)
    if cfg.get("rerank"):
        instantiate(cfg.rerank)
    check_metric_name("optimized_metric", cfg.optimized_metric, protocol.ks)
    for metric in cfg.get("sweep_objectives") or []:
        check_metric_name("sweep_objectives", metric, protocol.ks)
    if not _is_int(cfg.seed):
        raise ConfigError(f"seed must be an integer, got {cfg.seed!r}")
    if not is_neural(cfg.model):
        return
    check_trainer(cfg.trainer)
    instantiate(cfg.loss)
    optimizer = instantiate(cfg.optimizer)(params=[torch.nn.Parameter(torch.zeros(1))])
    if cfg.get("scheduler"):
        instantiate(cfg.scheduler)(optimizer=optimizer)


def warn_unused_options(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Warnings for command-line choices the configured model ignores (returned and logged)."""
    chosen = {o.split("=", 1)[0].lstrip("+~").split(".")[0] for o in overrides}
    warnings = []
    if not is_neural(cfg.model):
        for group in sorted(chosen & {*TRAINING_GROUPS, "batch_size", "min_positive_rating", "compile_step"}):
            warnings.append(f"{group} does not apply to {cfg.model._target_} (a baseline fitted in closed form or by its own solver); it is ignored")
    else:
        for tower in ("user_tower", "item_tower"):
            if tower in chosen and OmegaConf.to_container(cfg.model[tower]) != OmegaConf.to_container(cfg[tower]):
                warnings.append(f"{tower} does not apply: this model defines its own {tower} (model.{tower}); "
                                f"set model.{tower}.<field>=... or use model=two_tower {tower}=...")
        if "negatives" in chosen and not instantiate(cfg.loss).needs_negatives:
            warnings.append(f"negatives does not apply: {cfg.loss._target_} samples no negatives; use loss=bpr, combined or sampled_softmax")
    for warning in warnings:
        log.warning(warning)
    return warnings


def preflight(cfg: DictConfig, overrides: list[str] | None = None) -> list[str]:
    """Refuse invalid or impossible settings before any data is processed; warn about unused ones.

    Returns:
        The warnings about options that do not apply.
    """
    if cfg.get("ensemble_seeds"):
        if not is_neural(cfg.model):
            raise ConfigError(f"ensemble_seeds trains one two-tower run per seed; {cfg.model._target_} is not a two-tower model. "
                              f"Drop ensemble_seeds or use model=two_tower")
        if not OmegaConf.is_list(cfg.ensemble_seeds) or not all(_is_int(s) for s in cfg.ensemble_seeds):
            raise ConfigError(f"ensemble_seeds must be a list of integers, got {cfg.ensemble_seeds!r}")
    try:
        check_parts(cfg)
    except InstantiationException as error:  # a constructor refused a setting: its message says which
        raise ConfigError(str(error)) from error
    if is_neural(cfg.model):
        check_checkpoint_dirs(cfg.get("callbacks"))
    if not _writable(Path(cfg.paths.output_dir)):
        raise ConfigError(f"the run directory {cfg.paths.output_dir} is not writable; choose another hydra.run.dir")
    return warn_unused_options(cfg, overrides or [])
