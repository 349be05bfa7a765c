"""Checks that run before any data is processed, so a bad setting costs seconds, not a run.

:func:`preflight` instantiates every cheap part of the config (evaluation protocol, re-ranker,
loss, optimizer, scheduler, datamodule settings) so their constructors refuse invalid values,
type-checks the trainer's numeric settings, fails when the machine cannot run the trainer or the
run directory cannot hold checkpoints or a ``torchrun`` / ``srun`` launch does not match the trainer
(:mod:`recsys.training.launch`), and warns about options that do not apply to the model.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.evaluation.metrics import METRIC_NAMES
from recsys.lit.two_tower_module import COMPILE_MODES
from recsys.training.build import (
    ConfigError,
    build_callbacks,
    check_accelerator,
    is_neural,
)
from recsys.training.launch import check_launch, hydra_overrides
from recsys.training.sparse_optim import parameter_groups

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
    if cfg.get("compile_mode", "default") not in COMPILE_MODES:
        raise ConfigError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}, got {cfg.compile_mode!r}")
    instantiate(cfg.loss)
    optimizer = check_optimizer(cfg)
    if cfg.get("scheduler"):
        instantiate(cfg.scheduler)(optimizer=optimizer)


def sparse_towers(model_cfg: DictConfig) -> list[str]:
    """The towers of a two-tower config whose embedding table is sparse (``<tower>.sparse: true``)."""
    return [f"model.{t}" for t in ("user_tower", "item_tower") if OmegaConf.select(model_cfg, f"{t}.sparse", default=False)]


def check_optimizer(cfg: DictConfig) -> torch.optim.Optimizer:
    """Build the optimizer on a tower in miniature with the config's embedding layout and take one
    step, so that an optimizer that cannot take the towers' gradients fails here, not at step 1.

    Sparse tables (``sparse: true``, see :mod:`recsys.training.sparse_optim`) also refuse what
    cannot take sparse gradients: gradient clipping (``clip_grad_norm_`` has no sparse kernel),
    ``compile_step`` with sampled negatives (inductor fails on them) and DDP on GPUs (NCCL cannot all-reduce sparse
    tensors; gloo, ``trainer=ddp_sim``, can).

    Returns:
        The optimizer (for the scheduler's check).
    """
    sparse = sparse_towers(cfg.model)
    probe = torch.nn.Sequential(torch.nn.Embedding(4, 2, sparse=bool(sparse)), torch.nn.Linear(2, 1))
    layout = f"{' and '.join(sparse)} sparse: true" if sparse else "dense embedding tables (no tower has sparse: true)"
    try:
        optimizer = instantiate(cfg.optimizer)(params=parameter_groups(probe))
    except ValueError as error:  # a setting the optimizer refuses (its message says which)
        raise ConfigError(f"optimizer ({cfg.optimizer._target_}) with {layout}: {error}") from error
    try:
        probe(torch.tensor([0, 1])).sum().backward()
        optimizer.step()
    except RuntimeError as error:  # e.g. "Adam does not support sparse gradients"
        raise ConfigError(f"{cfg.optimizer._target_} cannot step the gradients of {layout}: {error}. Use optimizer=sparse_adam "
                          f"(optimizer=sparse_adam_mf with model=mf) for sparse tables, or drop the sparse: true override "
                          f"(a tower's sparse follows optimizer.sparse_embeddings)") from error
    if sparse and cfg.trainer.get("gradient_clip_val"):
        raise ConfigError(f"trainer.gradient_clip_val={cfg.trainer.gradient_clip_val} cannot clip the sparse gradients of {layout} "
                          f"(torch.nn.utils.clip_grad_norm_ has no sparse kernel); drop trainer.gradient_clip_val or use optimizer=adam")
    if sparse and cfg.get("compile_step") and instantiate(cfg.loss).needs_negatives:
        raise ConfigError(f"compile_step=true cannot compile the backward of the sparse gradients of {layout} with a loss that "
                          f"samples negatives (torch.compile's inductor fails where the positives' and negatives' sparse "
                          f"gradients of the item table add up); drop compile_step, use loss=softmax or full_softmax, or optimizer=adam")
    trainer = cfg.trainer
    distributed = trainer.get("strategy", "auto") not in ("auto", "single_device") or trainer.get("devices", 1) != 1 \
        or (trainer.get("num_nodes") or 1) != 1
    if sparse and trainer.get("accelerator") in ("gpu", "cuda") and distributed:
        raise ConfigError(f"DDP on GPUs all-reduces gradients with NCCL, which cannot reduce the sparse gradients of {layout}; "
                          f"train on one GPU (trainer=gpu), or use optimizer=adam for DDP")
    return optimizer


def warn_sparse_costs(cfg: DictConfig) -> list[str]:
    """Warnings for settings that work with sparse tables but spend what sparsity saves."""
    if not is_neural(cfg.model) or not sparse_towers(cfg.model):
        return []
    warnings = []
    if any(isinstance(c, pl.callbacks.WeightAveraging) for c in build_callbacks(cfg.get("callbacks"))):
        warnings.append("callbacks=ema averages every embedding row at every step, a dense pass over the tables that "
                        "sparse gradients avoid; expect little of optimizer=sparse_adam's speed-up with it")
    for warning in warnings:
        log.warning(warning)
    return warnings


def warn_unused_options(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Warnings for command-line choices the configured model ignores (returned and logged)."""
    chosen = {o.split("=", 1)[0].lstrip("+~").split(".")[0] for o in overrides}
    warnings = []
    if not is_neural(cfg.model):
        for group in sorted(chosen & {*TRAINING_GROUPS, "batch_size", "min_positive_rating", "compile_step", "compile_mode"}):
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
    check_launch(cfg, os.environ, hydra_overrides(), overrides or [], neural=is_neural(cfg.model))
    if is_neural(cfg.model):
        check_checkpoint_dirs(cfg.get("callbacks"))
    if not _writable(Path(cfg.paths.output_dir)):
        raise ConfigError(f"the run directory {cfg.paths.output_dir} is not writable; choose another hydra.run.dir")
    return warn_unused_options(cfg, overrides or []) + warn_sparse_costs(cfg)
