"""Evaluate a trained model the one way every caller uses (``train()``, ``eval.py``, scripts).

* a two-tower module goes through the trainer (``trainer.validate`` / ``trainer.test``), i.e.
  through the very code that chose its checkpoint during ``fit``, re-ranker included;
* a baseline goes through :func:`recsys.evaluation.evaluate.evaluate_scorer`;
* retrieval vectors without a module (a seed ensemble) through ``evaluate_vectors``.

:func:`evaluate_run` evaluates any run directory (two-tower checkpoint, baseline ``model.npz``,
ensemble embeddings) with the run's own protocol and re-ranker unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.data.interactions import SplitData
from recsys.evaluation.evaluate import build_task, evaluate_scorer, evaluate_vectors
from recsys.evaluation.metrics import RankingReport
from recsys.evaluation.protocol import EvaluationProtocol
from recsys.lit.datamodule import InteractionDataModule
from recsys.lit.two_tower_module import TwoTowerModule
from recsys.training.build import ConfigError, check_accelerator, is_neural, load_split
from recsys.training.export import export_embeddings
from recsys.utils.atomic import json_safe, write_json_atomic

SPLITS = ("val", "test")


def evaluation_trainer(accelerator: str = "cpu", precision: str | int = "32-true") -> pl.Trainer:
    """A single-device trainer with no callbacks or logger, for ``validate`` / ``test``."""
    return pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def evaluate_module(
    module: TwoTowerModule,
    datamodule: InteractionDataModule,
    splits: tuple[str, ...] = SPLITS,
    trainer: pl.Trainer | None = None,
) -> dict[str, RankingReport]:
    """Reports of a two-tower module on ``splits``, computed by the module's own evaluation hooks."""
    trainer = trainer or evaluation_trainer()
    for split in splits:
        run = trainer.validate if split == "val" else trainer.test
        run(module, datamodule=datamodule, verbose=False)
    return {split: module.reports[split] for split in splits}


def evaluate_baseline(
    model: Any, data: SplitData, protocol: EvaluationProtocol, reranker: Any = None, splits: tuple[str, ...] = SPLITS
) -> dict[str, RankingReport]:
    """Reports of a fitted baseline (``score(user_idx) -> (B, n_items)``)."""
    return {s: evaluate_scorer(build_task(data, s, protocol), data, model.score, reranker=reranker)[0] for s in splits}


def evaluate_retrieval_vectors(
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    data: SplitData,
    protocol: EvaluationProtocol,
    reranker: Any = None,
    splits: tuple[str, ...] = SPLITS,
) -> dict[str, RankingReport]:
    """Reports of retrieval vectors (U, D) and (I, D) scored by inner product."""
    return {
        s: evaluate_vectors(build_task(data, s, protocol), data, user_vectors, item_vectors, reranker=reranker)[0]
        for s in splits
    }


def run_config(run_dir: Path) -> DictConfig:
    """The resolved ``config.yaml`` of a run directory."""
    config = Path(run_dir) / "config.yaml"
    if not config.exists():
        raise ConfigError(f"{config} not found: pass run=<a run directory of train.py> (it holds config.yaml)")
    return OmegaConf.load(config)


def _checkpoint(run_dir: Path, ckpt: str | Path | None) -> Path:
    if ckpt:
        return Path(ckpt)
    metrics = Path(run_dir) / "metrics.json"
    if metrics.exists():
        best = OmegaConf.load(metrics).get("best_checkpoint")
        if best:
            return Path(best)
    return Path(run_dir) / "checkpoints" / "last.ckpt"


def evaluate_run(
    run_dir: str | Path | None = None,
    ckpt: str | Path | None = None,
    eval_cfg: DictConfig | None = None,
    rerank_cfg: DictConfig | None = None,
    splits: tuple[str, ...] = SPLITS,
    output_dir: Path | None = None,
    accelerator: str = "cpu",
) -> dict[str, Any]:
    """Evaluate any run directory, or one checkpoint of it, and export its retrieval vectors.

    Args:
        run_dir: a run directory (``config.yaml`` plus a checkpoint, ``model.npz`` or embeddings).
        ckpt: a two-tower checkpoint (default: the run's best, else ``last.ckpt``).
        eval_cfg, rerank_cfg: override the run's own ``eval`` / ``rerank`` (default: the run's).
        output_dir: where ``eval_metrics.json`` (and a two-tower's embeddings) are written.
        accelerator: where a two-tower checkpoint is evaluated (``gpu``: embedding and ranking
            on the GPU); baselines and ensembles rank on the CPU.

    Returns:
        ``{split: metrics, "<split>_by_activity": ..., "checkpoint": ...}``.
    """
    if run_dir is None and ckpt is None:
        raise ConfigError("pass run=<run directory> or ckpt=<run>/checkpoints/<file>.ckpt")
    if accelerator not in ("cpu", "gpu", "cuda"):
        raise ConfigError(f"accelerator={accelerator!r} is not one of cpu, gpu")
    check_accelerator({"accelerator": accelerator}, fix="accelerator=cpu (the default)")
    if ckpt is not None and not Path(ckpt).exists():
        raise ConfigError(f"checkpoint {ckpt} does not exist")
    run_dir = Path(run_dir) if run_dir is not None else Path(ckpt).resolve().parent.parent
    cfg = run_config(run_dir)
    protocol = instantiate(eval_cfg if eval_cfg is not None else cfg.eval)
    rerank = rerank_cfg if rerank_cfg is not None else cfg.get("rerank")
    data = load_split(cfg.data)
    source: Path
    vectors: tuple[torch.Tensor, torch.Tensor] | None = None
    if cfg.get("ensemble_seeds"):
        source = run_dir / "user_embeddings.npy"
        user_vectors = torch.from_numpy(np.load(source))
        item_vectors = torch.from_numpy(np.load(run_dir / "item_embeddings.npy"))
        reports = evaluate_retrieval_vectors(user_vectors, item_vectors, data, protocol, instantiate(rerank) if rerank else None, splits)
    elif is_neural(cfg.model):
        source = _checkpoint(run_dir, ckpt)
        if not source.exists():
            raise ConfigError(f"{source} does not exist; pass ckpt=<a checkpoint of {run_dir}>")
        overrides = {} if rerank_cfg is None else {"rerank": OmegaConf.to_container(rerank_cfg, resolve=True)}
        module = TwoTowerModule.load_from_checkpoint(source, map_location="cpu", split_data=data, **overrides)
        datamodule = InteractionDataModule(cfg.data, protocol, split_data=data)
        reports = evaluate_module(module, datamodule, splits, trainer=evaluation_trainer(accelerator))
        vectors = module.model.eval().retrieval_vectors()
    else:
        source = run_dir / "model.npz"
        if not source.exists():
            raise ConfigError(f"{source} does not exist: the run did not save its fitted {cfg.model._target_}")
        model = get_class(cfg.model._target_).load(source)
        reports = evaluate_baseline(model, data, protocol, instantiate(rerank) if rerank else None, splits)
    metrics: dict[str, Any] = {"checkpoint": str(source)}
    for split, report in reports.items():
        metrics[split] = dict(report.overall)
        metrics[f"{split}_by_activity"] = report.by_activity
    metrics = json_safe(metrics)
    if output_dir is not None:
        if vectors is not None:
            export_embeddings(*vectors, data, output_dir)
        write_json_atomic(Path(output_dir) / "eval_metrics.json", metrics)
    return metrics


__all__ = [
    "evaluate_baseline",
    "evaluate_module",
    "evaluate_retrieval_vectors",
    "evaluate_run",
    "evaluation_trainer",
    "run_config",
]
