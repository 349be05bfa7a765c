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
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from recsys.lit.datamodule import InteractionDataModule
from recsys.training.evaluation import evaluate_retrieval_vectors
from recsys.training.export import export_embeddings
from recsys.utils.atomic import write_text_atomic

FitMember = Callable[[DictConfig, InteractionDataModule, Path], tuple[dict[str, Any], dict[str, Any]]]


def member_config(cfg: DictConfig, seed: int, output_dir: Path) -> DictConfig:
    """The run config of one member: its seed, its own directory, no export of its own."""
    member = copy.deepcopy(cfg)
    with open_dict(member):
        member.seed = int(seed)
        member.paths.output_dir = str(output_dir)
        member.export_embeddings = False
        member.ensemble_seeds = None
    return OmegaConf.create(OmegaConf.to_container(member, resolve=True))


def fit_ensemble(
    cfg: DictConfig, datamodule: InteractionDataModule, output_dir: Path, fit_member: FitMember
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train every member, then evaluate and export the concatenated retrieval vectors.

    Args:
        fit_member: trains one two-tower run (``recsys.training.fit.fit_two_tower``).

    Returns:
        ``(reports, objects)`` like ``fit_member``; ``objects["members"]`` lists each member's
        seed, val/test NDCG@10 and best checkpoint. Empty reports on DDP ranks other than 0.
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
        write_text_atomic(member_dir / "config.yaml", OmegaConf.to_yaml(member, resolve=True))  # eval.py reads it
        datamodule.seed = seed  # the member's batch order (the split is shared, loaded once)
        pl.seed_everything(seed, workers=True)
        reports, objects = fit_member(member, datamodule, member_dir)
        if not reports:  # a non-zero DDP rank trains every member with rank 0; rank 0 evaluates
            continue
        user_vectors, item_vectors = objects["model"].retrieval_vectors()
        users.append(user_vectors)
        items.append(item_vectors)
        train_seconds += objects["train_seconds"]
        members.append({
            "seed": seed,
            "val_ndcg@10": reports["val"].overall["ndcg@10"],
            "test_ndcg@10": reports["test"].overall["ndcg@10"],
            "best_checkpoint": objects["best_checkpoint"],
        })
    if not members:
        return {}, {"data": datamodule.data}
    start = time.perf_counter()
    user_vectors, item_vectors = torch.cat(users, dim=1), torch.cat(items, dim=1)
    reranker = instantiate(cfg.rerank) if cfg.get("rerank") else None
    reports = evaluate_retrieval_vectors(user_vectors, item_vectors, datamodule.data, datamodule.protocol, reranker)
    if cfg.get("export_embeddings", True):
        export_embeddings(user_vectors, item_vectors, datamodule.data, output_dir)
    objects = {"data": datamodule.data, "members": members, "train_seconds": train_seconds,
               "eval_seconds": time.perf_counter() - start, "best_checkpoint": ""}
    return reports, objects
