"""Seed ensembles of two-tower models, exported as one two-tower model.

``ensemble_seeds: [42, 1, 2]`` trains one member per seed (each with its own early stopping and
best checkpoint on val, under ``<run>/members/seed<S>/``) and concatenates the members' retrieval
vectors: the inner product of the concatenated user and item vectors is the sum of the members'
scores, so the ensemble is served and evaluated like any single two-tower model (one index,
one inner product), at K times the dimension.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from recsys.data.interactions import SplitData
from recsys.training.records import metrics_record

FitMember = Callable[[DictConfig, SplitData, Path], tuple[dict[str, Any], dict[str, Any]]]
EvaluateVectors = Callable[[DictConfig, SplitData, torch.Tensor, torch.Tensor, Path], dict[str, Any]]


def member_config(cfg: DictConfig, seed: int, output_dir: Path) -> DictConfig:
    """The run config of one member: its seed, its own directory, no export of its own."""
    member = copy.deepcopy(cfg)
    with open_dict(member):
        member.seed = int(seed)
        member.paths.output_dir = str(output_dir)
        member.export_embeddings = False
        member.ensemble_seeds = None
    return member


def fit_ensemble(
    cfg: DictConfig, data: SplitData, output_dir: Path, fit_member: FitMember, evaluate: EvaluateVectors
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train every member, then evaluate and export the concatenated retrieval vectors.

    Args:
        fit_member: trains one two-tower run (``recsys.training.run.fit_two_tower``).
        evaluate: val/test reports of retrieval vectors, exporting them
            (``recsys.training.run.evaluate_retrieval_vectors``).
    """
    seeds = [int(s) for s in cfg.ensemble_seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"ensemble_seeds must be distinct, got {seeds}")
    users, items, members = [], [], []
    train_seconds = 0.0
    for seed in seeds:
        member_dir = Path(output_dir) / "members" / f"seed{seed}"
        member_dir.mkdir(parents=True, exist_ok=True)
        member = member_config(cfg, seed, member_dir)
        (member_dir / "config.yaml").write_text(OmegaConf.to_yaml(member, resolve=True))  # eval.py reads it
        pl.seed_everything(seed, workers=True)
        metrics, objects = fit_member(member, data, member_dir)
        if not metrics:  # a non-zero DDP rank trains every member with rank 0; rank 0 evaluates
            continue
        model = objects["model"].cpu().eval()
        with torch.no_grad():
            user_vectors, item_vectors = model.retrieval_vectors()
        users.append(user_vectors)
        items.append(item_vectors)
        train_seconds += metrics["train_seconds"]
        members.append({
            "seed": seed,
            "val_ndcg@10": metrics["val"]["ndcg@10"],
            "test_ndcg@10": metrics["test"]["ndcg@10"],
            "best_checkpoint": metrics["best_checkpoint"],
        })
    if not members:
        return {}, {"data": data}
    start = time.perf_counter()
    reports = evaluate(cfg, data, torch.cat(users, dim=1), torch.cat(items, dim=1), Path(output_dir))
    metrics = metrics_record(reports, train_seconds, time.perf_counter() - start, "")
    metrics["members"] = members
    return metrics, {"data": data, "members": members}
