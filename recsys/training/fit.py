"""Fit one configured model on a prepared datamodule and evaluate it (val and test).

* :func:`fit_two_tower`: Lightning ``fit``, then the best checkpoint (``load_from_checkpoint``)
  through ``trainer.validate`` / ``trainer.test``: the same evaluation that chose it;
* :func:`fit_baseline`: ``fit(train_csr)``, then the same protocol through the scorer driver.

Both return ``(reports, objects)``; ``train()`` turns reports into ``metrics.json``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from recsys.lit.datamodule import InteractionDataModule
from recsys.lit.two_tower_module import TwoTowerModule
from recsys.training.build import build_callbacks, build_loggers
from recsys.training.epoch_summary import EpochSummary
from recsys.training.evaluation import evaluate_baseline, evaluate_module, evaluation_trainer
from recsys.training.export import export_embeddings
from recsys.training.launch import leave_process_group
from recsys.training.resume import resolve_ckpt_path

log = logging.getLogger(__name__)


def best_checkpoint_callback(callbacks: list[Any]) -> pl.callbacks.ModelCheckpoint | None:
    """The checkpoint callback that monitors a metric (the best model), if any."""
    return next((c for c in callbacks if isinstance(c, pl.callbacks.ModelCheckpoint) and c.monitor), None)


def build_module(cfg: DictConfig, datamodule: InteractionDataModule) -> TwoTowerModule:
    """The configured :class:`TwoTowerModule` on the datamodule's split."""
    return TwoTowerModule(
        model=cfg.model,
        loss=cfg.loss,
        optimizer=cfg.optimizer,
        data=cfg.data,
        scheduler=cfg.get("scheduler"),
        rerank=cfg.get("rerank"),
        min_positive_rating=cfg.get("min_positive_rating"),
        monitor=cfg.optimized_metric,
        compile_step=bool(cfg.get("compile_step", False)),
        compile_mode=cfg.get("compile_mode", "default"),
        split_data=datamodule.data,
    )


def fit_two_tower(cfg: DictConfig, datamodule: InteractionDataModule, output_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train with Lightning, evaluate the best checkpoint on val and test, export its vectors.

    Returns:
        ``(reports, objects)``; ``reports`` is empty on DDP ranks other than 0.
    """
    if torch.cuda.is_available():  # TF32 tensor cores for the float32 parts (softmax logits)
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "high"))
    module = build_module(cfg, datamodule)
    callbacks = build_callbacks(cfg.get("callbacks"))
    loggers = build_loggers(cfg.get("logger"))
    if not loggers:  # the LR monitor has nothing to write to without a logger
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    # the progress bar only on a terminal; redirected to a file, one line per epoch instead
    progress_bar = bool(cfg.trainer.get("enable_progress_bar", True)) and sys.stderr.isatty()
    if not progress_bar:
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
        if cfg.trainer.get("enable_progress_bar", True):
            callbacks.append(EpochSummary(("train/loss", cfg.optimized_metric)))
    checkpointing = any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, enable_checkpointing=checkpointing,
                                      enable_progress_bar=progress_bar)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), output_dir))
    train_seconds = time.perf_counter() - start
    leave_process_group()  # torchrun / srun / Lightning-launched ranks: rank 0 evaluates alone
    best_callback = best_checkpoint_callback(callbacks)
    best = best_callback.best_model_path if best_callback is not None else ""
    objects: dict[str, Any] = {"module": module, "trainer": trainer, "data": datamodule.data, "best_checkpoint": best, "loggers": loggers}
    if not trainer.is_global_zero:
        return {}, objects
    start = time.perf_counter()
    if best:
        module = TwoTowerModule.load_from_checkpoint(best, map_location="cpu", split_data=datamodule.data)
    reports = evaluate_module(module, datamodule, trainer=evaluation_trainer(cfg.trainer.accelerator, cfg.trainer.precision))
    model = module.model.cpu().eval()
    objects.update(module=module, model=model, train_seconds=train_seconds, eval_seconds=time.perf_counter() - start)
    if cfg.get("export_embeddings", True):
        export_embeddings(*model.retrieval_vectors(), datamodule.data, output_dir)
    for logger in loggers:
        logger.log_metrics({f"test/{k}": v for k, v in reports["test"].overall.items() if isinstance(v, (int, float))})
    return reports, objects


def fit_baseline(cfg: DictConfig, datamodule: InteractionDataModule, output_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit a non-neural recommender on the training matrix, evaluate it and save it (``model.npz``)."""
    data = datamodule.data
    model = instantiate(cfg.model)
    start = time.perf_counter()
    model.fit(data.train.to_csr(data.n_users, data.n_items))
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reranker = instantiate(cfg.rerank) if cfg.get("rerank") else None
    reports = evaluate_baseline(model, data, datamodule.protocol, reranker)
    model.save(output_dir / "model.npz")
    objects = {
        "model": model,
        "data": data,
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - start,
        "loggers": build_loggers(cfg.get("logger")),  # no curves to log, but the run's summary and artifact
    }
    return reports, objects
