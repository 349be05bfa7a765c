"""``train(cfg)``: prepare data, fit the configured model, evaluate it, write the run directory.

The run directory (Hydra's output dir) receives the resolved config, ``checkpoints/`` (best and
last), ``metrics.json`` and the exported embeddings. ``train`` returns ``(metrics, objects)``;
the metric a sweeper optimises is ``metrics["val"]["ndcg@10"]`` (never the test split).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.data.interactions import SplitData
from recsys.evaluation.evaluate import build_task, evaluate_scorer, evaluate_vectors
from recsys.lit.datamodule import InteractionDataModule
from recsys.lit.two_tower_module import TwoTowerModule
from recsys.training.build import (
    ConfigError,
    build_callbacks,
    build_loggers,
    build_loss,
    build_two_tower,
    check_accelerator,
    is_neural,
)
from recsys.training.ensemble import fit_ensemble
from recsys.training.export import export_embeddings
from recsys.training.records import metrics_record
from recsys.utils.atomic import write_json_atomic

log = logging.getLogger(__name__)


def load_data(cfg: DictConfig) -> SplitData:
    """Prepare (cached) and load the configured data set and split."""
    dataset = instantiate(cfg.data, _convert_="all").prepare()
    data = SplitData.load(dataset)
    for name in ("train", "val", "test"):
        if len(getattr(data, name)) == 0 and name != "val":
            raise ConfigError(f"the {name} split of {dataset.split_dir} is empty; choose another data.split")
    return data


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``last`` means this run directory's ``checkpoints/last.ckpt``."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        if not last.exists():
            raise ConfigError(
                f"ckpt_path=last but {last} does not exist; resume inside the killed run's directory "
                f"with hydra.run.dir=<that directory> ckpt_path=last"
            )
        return str(last)
    if not Path(ckpt_path).exists():
        raise ConfigError(f"checkpoint {ckpt_path} does not exist")
    return ckpt_path


def _reranker(cfg: DictConfig) -> Any:
    """The configured re-ranker (``conf/rerank``), or None."""
    return instantiate(cfg.rerank) if cfg.get("rerank") else None


def fit_two_tower(cfg: DictConfig, data: SplitData, output_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train with Lightning, reload the best checkpoint, evaluate val and test, export."""
    check_accelerator(cfg.trainer)
    if torch.cuda.is_available():  # TF32 tensor cores for the float32 parts (softmax logits)
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "high"))
    model = build_two_tower(cfg.model, data)
    loss = build_loss(cfg.loss, data, cfg.get("min_positive_rating"))
    protocol = instantiate(cfg.eval)
    val_task = build_task(data, "val", protocol)
    module = TwoTowerModule(
        model=model,
        loss=loss,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        val_task=val_task,
        compile_step=bool(cfg.get("compile_step", False)),
    )
    datamodule = InteractionDataModule(
        data,
        val_task,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        eval_chunk_size=protocol.chunk_size,
        min_positive_rating=cfg.get("min_positive_rating"),
    )
    callbacks = build_callbacks(cfg.get("callbacks"))
    loggers = build_loggers(cfg.get("logger"))
    if not loggers:  # the LR monitor has nothing to write to without a logger
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    has_checkpointing = any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks)
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, enable_checkpointing=has_checkpointing
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), output_dir))
    train_seconds = time.perf_counter() - start
    best = trainer.checkpoint_callback.best_model_path if has_checkpointing and trainer.checkpoint_callback else ""
    if best:
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    objects = {"model": model, "module": module, "trainer": trainer, "data": data, "best_checkpoint": best}
    if not trainer.is_global_zero:
        return {}, objects
    start = time.perf_counter()
    model = model.cpu().eval()
    with torch.no_grad():
        user_vectors, item_vectors = model.retrieval_vectors()
    reports = evaluate_retrieval_vectors(cfg, data, user_vectors, item_vectors, output_dir, val_task)
    metrics = metrics_record(reports, train_seconds, time.perf_counter() - start, best)
    for logger in loggers:
        logger.log_metrics({f"test/{k}": v for k, v in metrics["test"].items() if isinstance(v, (int, float))})
    return metrics, objects


def evaluate_retrieval_vectors(
    cfg: DictConfig,
    data: SplitData,
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    output_dir: Path,
    val_task: Any = None,
) -> dict[str, Any]:
    """Val and test reports of retrieval vectors (configured protocol and re-ranker); exports them."""
    protocol = instantiate(cfg.eval)
    reranker = _reranker(cfg)
    reports = {}
    for split in ("val", "test"):
        task = val_task if split == "val" and val_task is not None else build_task(data, split, protocol)
        reports[split], _ = evaluate_vectors(task, data, user_vectors, item_vectors, reranker=reranker)
    if cfg.get("export_embeddings", True):
        export_embeddings(user_vectors, item_vectors, data, output_dir)
    return reports


def fit_baseline(cfg: DictConfig, data: SplitData, output_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit a non-neural recommender on the training matrix and evaluate it the same way."""
    model = instantiate(cfg.model)
    start = time.perf_counter()
    model.fit(data.train.to_csr(data.n_users, data.n_items))
    train_seconds = time.perf_counter() - start
    protocol = instantiate(cfg.eval)
    start = time.perf_counter()
    reranker = _reranker(cfg)
    reports = {}
    for split in ("val", "test"):
        task = build_task(data, split, protocol)
        reports[split], _ = evaluate_scorer(task, data, model.score, reranker=reranker)
    eval_seconds = time.perf_counter() - start
    if hasattr(model, "save"):
        model.save(output_dir / "model.npz")
    return metrics_record(reports, train_seconds, eval_seconds, ""), {"model": model, "data": data}


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one configured experiment end to end.

    Args:
        cfg: the composed ``conf/train.yaml``.

    Returns:
        ``(metrics, objects)``: the content of ``metrics.json`` and the live objects (model,
        trainer, data) for callers such as tests and notebooks.
    """
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    data = load_data(cfg)
    if cfg.get("ensemble_seeds"):
        metrics, objects = fit_ensemble(cfg, data, output_dir, fit_two_tower, evaluate_retrieval_vectors)
    else:
        fit = fit_two_tower if is_neural(cfg.model) else fit_baseline
        metrics, objects = fit(cfg, data, output_dir)
    if metrics:
        metrics = {"model": cfg.model.get("_target_"), "data": cfg.data.name, "split": cfg.data.split, **metrics}
        write_json_atomic(output_dir / "metrics.json", metrics)
    return metrics, objects
