"""Evaluate a trained model on a held-out split through the full-ranking protocol."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg
import torch

from recsys.data.interactions import SplitData
from recsys.evaluation.full_ranking import FullRankingTask, restrict_columns
from recsys.evaluation.metrics import RankingReport, ranking_metrics
from recsys.evaluation.protocol import EvaluationProtocol
from recsys.evaluation.rerank import NoRerank, Reranker
from recsys.evaluation.topk import topk_from_embeddings, topk_from_scorer

_SCORE_CHUNK = 1024  # users whose candidate scores are gathered at once: (chunk, candidates, D) vectors


def build_task(data: SplitData, split: str, protocol: EvaluationProtocol | None = None) -> FullRankingTask:
    """The ranking task of ``split`` ("val" or "test"): train (and val for test) excluded.

    Args:
        protocol: the evaluation settings (``instantiate(cfg.eval)``); default ``EvaluationProtocol()``.
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
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
        protocol=protocol if protocol is not None else EvaluationProtocol(),
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
        activity_buckets=task.activity_buckets,
    )
    report.overall["n_users_skipped"] = task.n_users_skipped
    return report


def interaction_item_vectors(data: SplitData, catalog: np.ndarray, dim: int = 64) -> torch.Tensor:
    """Item vectors (C, dim') from a truncated SVD of the binary training matrix (for MMR).

    Used when a model has no embeddings of its own (baselines): items co-consumed by the same
    users point the same way. Deterministic (fixed ARPACK start vector).
    """
    matrix = restrict_columns(data.train.to_csr(data.n_users, data.n_items, binary=True), catalog)
    rank = min(dim, min(matrix.shape) - 1)
    if rank < 1:
        return torch.ones(len(catalog), 1)
    v0 = np.ones(min(matrix.shape)) / np.sqrt(min(matrix.shape))
    _, sv, vt = scipy.sparse.linalg.svds(matrix.astype(np.float64), k=rank, v0=v0)
    return torch.from_numpy((vt.T * sv).astype(np.float32))


def _wants_rerank(reranker: Reranker | None) -> bool:
    return reranker is not None and not isinstance(reranker, NoRerank)


def _apply_rerank(
    reranker: Reranker,
    task: FullRankingTask,
    data: SplitData,
    candidates: torch.Tensor,
    candidate_scores: Callable[[int, int], torch.Tensor],
    catalog_vectors: torch.Tensor,
) -> torch.Tensor:
    """Re-rank (U, N) candidates to (U, max(ks)) in one call, users in the task's order.

    Scores are gathered a chunk of users at a time (bounded memory); the re-ranker sees every
    user at once, so re-rankers that work across users (coverage) do not depend on chunking.

    Args:
        candidates: catalogue positions (U, N) sorted by score, -1 padding.
        candidate_scores: ``(start, stop) -> (stop - start, N)`` scores of those rows' candidates.
        catalog_vectors: (C, D) catalogue item vectors.
    """
    popularity = data.item_counts()[task.catalog]
    k = max(task.ks)
    if candidates.shape[0] == 0:
        return torch.full((0, k), -1, dtype=torch.long)
    n_users = candidates.shape[0]
    chunks = [candidate_scores(start, min(start + _SCORE_CHUNK, n_users)) for start in range(0, n_users, _SCORE_CHUNK)]
    scores = torch.cat(chunks).masked_fill(candidates < 0, float("-inf"))
    return reranker.rerank(candidates, scores, k, catalog_vectors, popularity)


def evaluate_vectors(
    task: FullRankingTask,
    data: SplitData,
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    chunk_size: int | None = None,
    reranker: Reranker | None = None,
) -> tuple[RankingReport, torch.Tensor]:
    """Rank the catalogue by inner product for every evaluated user.

    Args:
        user_vectors: (n_users, D) retrieval vectors of all users.
        item_vectors: (n_items, D) retrieval vectors of all items (catalogue rows are used).
        chunk_size: users scored at once (default: the task's).
        reranker: optional re-ranker (``recsys.evaluation.rerank``): the top
            ``reranker.candidates`` items are retrieved, scored by inner product and re-ranked.

    Returns:
        The report and the top-K catalogue positions (U_eval, K) (map with ``task.catalog``).
    """
    users = task.users.to(user_vectors.device)
    catalog = torch.as_tensor(task.catalog, device=item_vectors.device)
    eval_users = user_vectors.index_select(0, users)
    catalog_vectors = item_vectors.index_select(0, catalog)
    rerank = _wants_rerank(reranker)
    topk = topk_from_embeddings(
        eval_users,
        catalog_vectors,
        max(reranker.candidates, max(task.ks)) if rerank else max(task.ks),
        exclude=task.exclude[task.users.numpy()],
        backend=task.backend,
        chunk_size=chunk_size or task.chunk_size,
    )
    if rerank:
        def inner_products(start: int, stop: int) -> torch.Tensor:
            picked = catalog_vectors.double()[topk[start:stop].clamp(min=0)]  # (B, N, D)
            return torch.einsum("bd,bnd->bn", eval_users[start:stop].double(), picked)

        topk = _apply_rerank(reranker, task, data, topk, inner_products, catalog_vectors)
    return _report(task, topk, data), topk


def evaluate_scorer(
    task: FullRankingTask,
    data: SplitData,
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    chunk_size: int | None = None,
    reranker: Reranker | None = None,
    item_vectors: torch.Tensor | None = None,
) -> tuple[RankingReport, torch.Tensor]:
    """Like :func:`evaluate_vectors` for models that give a (B, n_items) score matrix.

    With a ``reranker``, candidate scores are gathered from ``score_fn``; ``item_vectors``
    (n_items, D) are the embeddings MMR compares (default: :func:`interaction_item_vectors`).
    """
    catalog = torch.as_tensor(task.catalog)

    def catalog_scores(user_idx: torch.Tensor) -> torch.Tensor:
        scores = score_fn(user_idx)
        return scores.index_select(1, catalog.to(scores.device))

    users = task.users
    rerank = _wants_rerank(reranker)
    k = max(reranker.candidates, max(task.ks)) if rerank else max(task.ks)
    topk = topk_from_scorer(catalog_scores, users, k, exclude=task.exclude, chunk_size=chunk_size or task.chunk_size)
    if rerank:
        def gathered(start: int, stop: int) -> torch.Tensor:  # score_fn is called a second time
            scores = catalog_scores(users[start:stop]).double()
            return scores.gather(1, topk[start:stop].clamp(min=0).to(scores.device)).to(topk.device)

        if item_vectors is None:
            catalog_vectors = interaction_item_vectors(data, task.catalog)
        else:
            catalog_vectors = item_vectors.index_select(0, catalog.to(item_vectors.device))
        topk = _apply_rerank(reranker, task, data, topk, gathered, catalog_vectors)
    return _report(task, topk, data), topk


def as_numpy_items(task: FullRankingTask, topk: torch.Tensor) -> np.ndarray:
    """Catalogue positions (U, K) to item indices (-1 stays -1)."""
    positions = topk.cpu().numpy()
    return np.where(positions >= 0, task.catalog[np.clip(positions, 0, None)], -1)
