"""Evaluate a trained model on a held-out split through the full-ranking protocol."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from recsys.data.interactions import SplitData
from recsys.evaluation.full_ranking import FullRankingTask
from recsys.evaluation.metrics import RankingReport, ranking_metrics
from recsys.evaluation.topk import topk_from_embeddings, topk_from_scorer


def build_task(
    data: SplitData, split: str, relevance_threshold: float | None, ks: tuple[int, ...], backend: str = "torch"
) -> FullRankingTask:
    """The ranking task of ``split`` ("val" or "test"): train (and val for test) excluded."""
    parts = [(data.train.user_idx, data.train.item_idx)]
    if split == "test":
        parts.append((data.val.user_idx, data.val.item_idx))
    held = getattr(data, split)
    return FullRankingTask.build(
        n_users=data.n_users,
        n_items=data.n_items,
        catalog=data.catalog(),
        exclude_parts=parts,
        held_out=(held.user_idx, held.item_idx, held.rating),
        relevance_threshold=relevance_threshold,
        ks=ks,
        backend=backend,
    )


def _report(task: FullRankingTask, topk: torch.Tensor, data: SplitData) -> RankingReport:
    users = task.users.numpy()
    popularity = data.item_counts()[task.catalog]
    report = ranking_metrics(
        topk,
        task.relevant[users],
        ks=task.ks,
        n_catalog=len(task.catalog),
        item_popularity=popularity,
        user_activity=data.user_counts()[users],
    )
    report.overall["n_users_skipped"] = task.n_users_skipped
    return report


def evaluate_vectors(
    task: FullRankingTask,
    data: SplitData,
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    chunk_size: int = 4096,
) -> tuple[RankingReport, torch.Tensor]:
    """Rank the catalogue by inner product for every evaluated user.

    Args:
        user_vectors: (n_users, D) retrieval vectors of all users.
        item_vectors: (n_items, D) retrieval vectors of all items (catalogue rows are used).

    Returns:
        The report and the top-K catalogue positions (U_eval, K) (map with ``task.catalog``).
    """
    users = task.users.to(user_vectors.device)
    catalog = torch.as_tensor(task.catalog, device=item_vectors.device)
    topk = topk_from_embeddings(
        user_vectors.index_select(0, users),
        item_vectors.index_select(0, catalog),
        max(task.ks),
        exclude=task.exclude[task.users.numpy()],
        backend=task.backend,
        chunk_size=chunk_size,
    )
    return _report(task, topk, data), topk


def evaluate_scorer(
    task: FullRankingTask,
    data: SplitData,
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    chunk_size: int = 1024,
) -> tuple[RankingReport, torch.Tensor]:
    """Like :func:`evaluate_vectors` for models that give a (B, n_items) score matrix."""
    catalog = torch.as_tensor(task.catalog)

    def catalog_scores(user_idx: torch.Tensor) -> torch.Tensor:
        scores = score_fn(user_idx)
        return scores.index_select(1, catalog.to(scores.device))

    users = task.users
    topk = topk_from_scorer(
        catalog_scores, users, max(task.ks), exclude=task.exclude, chunk_size=chunk_size
    )
    return _report(task, topk, data), topk


def as_numpy_items(task: FullRankingTask, topk: torch.Tensor) -> np.ndarray:
    """Catalogue positions (U, K) to item indices (-1 stays -1)."""
    positions = topk.cpu().numpy()
    return np.where(positions >= 0, task.catalog[np.clip(positions, 0, None)], -1)
