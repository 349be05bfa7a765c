"""Evaluate any saved two-tower checkpoint and export its embeddings (``python eval.py ckpt=...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.evaluation.evaluate import build_task, evaluate_vectors
from recsys.training.build import ConfigError, build_two_tower
from recsys.training.export import export_embeddings
from recsys.training.run import load_data
from recsys.utils.atomic import write_json_atomic

MODEL_PREFIX = "model."


def run_config(ckpt: Path) -> DictConfig:
    """The resolved ``config.yaml`` of the run that wrote ``ckpt`` (``<run>/checkpoints/x.ckpt``)."""
    config = Path(ckpt).resolve().parent.parent / "config.yaml"
    if not config.exists():
        raise ConfigError(f"{config} not found: a checkpoint must sit in <run dir>/checkpoints/ next to the run's config.yaml")
    return OmegaConf.load(config)


def load_model(ckpt: Path, cfg: DictConfig, data: Any) -> torch.nn.Module:
    """Rebuild the run's two-tower model and load the checkpoint's weights into it."""
    model = build_two_tower(cfg.model, data)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k[len(MODEL_PREFIX):]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    model.load_state_dict(weights)
    return model.eval()


def evaluate_checkpoint(ckpt: str | Path, eval_cfg: DictConfig, output_dir: Path, splits: list[str]) -> dict[str, Any]:
    """Evaluate ``ckpt`` on ``splits`` with ``eval_cfg`` and export embeddings into ``output_dir``.

    Returns:
        ``{split: metrics, f"{split}_by_activity": ..., "checkpoint": path}`` (also ``eval_metrics.json``).
    """
    ckpt = Path(ckpt)
    if not ckpt.exists():
        raise ConfigError(f"checkpoint {ckpt} does not exist")
    cfg = run_config(ckpt)
    data = load_data(cfg)
    model = load_model(ckpt, cfg, data)
    user_vectors, item_vectors = model.retrieval_vectors()
    metrics: dict[str, Any] = {"checkpoint": str(ckpt)}
    protocol = instantiate(eval_cfg)
    for split in splits:
        task = build_task(data, split, protocol)
        report, _ = evaluate_vectors(task, data, user_vectors, item_vectors)
        metrics[split] = dict(report.overall)
        metrics[f"{split}_by_activity"] = report.by_activity
    export_embeddings(user_vectors, item_vectors, data, output_dir)
    write_json_atomic(Path(output_dir) / "eval_metrics.json", metrics)
    return metrics
