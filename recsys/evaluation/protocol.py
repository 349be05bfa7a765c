"""Full-ranking evaluation protocol: what counts as relevant, what is excluded, and the cut-offs.

Plain numpy/torch/scipy in and out, so that it does not depend on how the data are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from recsys.evaluation.metrics import RankingReport, ranking_metrics
from recsys.evaluation.topk import topk_from_embeddings, topk_from_scorer

ArrayLike = np.ndarray | Tensor


def _np(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _indicator(users: ArrayLike, items: ArrayLike, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary (n_users, n_items) CSR of the given pairs (duplicates collapse to 1)."""
    u, i = _np(users).astype(np.int64), _np(items).astype(np.int64)
    m = sp.csr_matrix((np.ones(u.size, dtype=np.float32), (u, i)), shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    m.sort_indices()
    return m


@dataclass(frozen=True)
class EvaluationProtocol:
    """Settings of a full-ranking evaluation.

    Attributes:
        relevance_threshold: test ratings at or above it are relevant; None = every test item.
        ks: cut-offs.
        backend: ``"torch"`` or ``"faiss"`` for embedding models.
        chunk_size: users scored at once.
        activity_buckets: edges on users' training counts for the per-bucket breakdown.
        catalog_only: rank only catalog items (seen in training); items never trained on are
            never recommended, as they can never be relevant either.
    """

    relevance_threshold: float | None = 4.0
    ks: tuple[int, ...] = (5, 10, 20)
    backend: str = "torch"
    chunk_size: int = 4096
    activity_buckets: tuple[int, ...] = (5, 20, 100)
    catalog_only: bool = True

    def build_relevant(
        self,
        test_users: ArrayLike,
        test_items: ArrayLike,
        test_ratings: ArrayLike | None,
        n_users: int,
        n_items: int,
        catalog_mask: ArrayLike | None = None,
    ) -> sp.csr_matrix:
        """Relevant (user, item) pairs of a held-out split.

        Args:
            test_users, test_items: index arrays of shape (N,).
            test_ratings: ratings of shape (N,), or None (every pair relevant).
            n_users, n_items: matrix shape.
            catalog_mask: boolean (I,) of items seen in training; others are dropped.

        Returns:
            Binary CSR of shape (n_users, n_items).
        """
        keep = np.ones(_np(test_users).shape[0], dtype=bool)
        if self.relevance_threshold is not None and test_ratings is not None:
            keep &= _np(test_ratings) >= self.relevance_threshold
        items = _np(test_items).astype(np.int64)
        if catalog_mask is not None:
            keep &= _np(catalog_mask).astype(bool)[items]
        return _indicator(_np(test_users)[keep], items[keep], n_users, n_items)

    @staticmethod
    def build_exclude(n_users: int, n_items: int, *splits_user_item) -> sp.csr_matrix:
        """Items never to recommend: the union of the given ``(users, items)`` splits.

        Args:
            n_users, n_items: matrix shape.
            *splits_user_item: ``(users (N,), items (N,))`` pairs, e.g. train and validation.

        Returns:
            Binary CSR of shape (n_users, n_items).
        """
        if not splits_user_item:
            return sp.csr_matrix((n_users, n_items), dtype=np.float32)
        users = np.concatenate([_np(u).astype(np.int64) for u, _ in splits_user_item])
        items = np.concatenate([_np(i).astype(np.int64) for _, i in splits_user_item])
        return _indicator(users, items, n_users, n_items)

    def _context(self, train, n_users: int, n_items: int, item_popularity):
        """Training counts per user and item, the catalog, and the users worth ranking."""
        tu, ti = (_np(a).astype(np.int64) for a in train)
        activity = np.bincount(tu, minlength=n_users)
        item_count = np.bincount(ti, minlength=n_items)
        pop = item_count if item_popularity is None else _np(item_popularity)
        return activity, pop, item_count > 0

    def _report(self, topk, relevant, users, n_catalog, pop, activity) -> RankingReport:
        full = np.full((relevant.shape[0], topk.shape[1]), -1, dtype=np.int64)
        full[users] = topk
        return ranking_metrics(
            full, relevant, self.ks, n_catalog, pop, activity, self.activity_buckets
        )

    def evaluate_embeddings(
        self,
        user_emb: Tensor,
        item_emb: Tensor,
        train: tuple[ArrayLike, ArrayLike],
        exclude: sp.csr_matrix | None,
        relevant: sp.csr_matrix,
        item_popularity: ArrayLike | None = None,
    ) -> RankingReport:
        """Evaluate an embedding model by exact inner-product top-k.

        Args:
            user_emb: (U, D) embeddings; item_emb: (I, D).
            train: ``(users (N,), items (N,))`` training pairs: activity, popularity, catalog.
            exclude: (U, I) CSR of items not to recommend (see ``build_exclude``).
            relevant: (U, I) CSR (see ``build_relevant``).
            item_popularity: (I,) popularity for novelty; defaults to training counts.

        Returns:
            RankingReport; only users with relevant items are ranked.
        """
        n_users, n_items = relevant.shape
        activity, pop, catalog = self._context(train, n_users, n_items, item_popularity)
        users = np.nonzero(np.diff(relevant.indptr) > 0)[0]
        cols = np.nonzero(catalog)[0] if self.catalog_only else np.arange(n_items)
        excl = exclude[users][:, cols] if exclude is not None else None
        rows_t = torch.from_numpy(users).to(user_emb.device)
        cols_t = torch.from_numpy(cols).to(item_emb.device)
        top = topk_from_embeddings(
            user_emb[rows_t], item_emb[cols_t], max(self.ks), excl, self.backend, self.chunk_size
        ).cpu().numpy()
        top = np.where(top >= 0, cols[np.maximum(top, 0)], -1)
        return self._report(top, relevant, users, int(catalog.sum()), pop, activity)

    def evaluate_scorer(
        self,
        score_fn: Callable[[Tensor], Tensor],
        train: tuple[ArrayLike, ArrayLike],
        exclude: sp.csr_matrix | None,
        relevant: sp.csr_matrix,
        item_popularity: ArrayLike | None = None,
    ) -> RankingReport:
        """Evaluate a model given as ``score_fn(user_idx (B,)) -> scores (B, I)``.

        Arguments as in ``evaluate_embeddings``.
        """
        n_users, n_items = relevant.shape
        activity, pop, catalog = self._context(train, n_users, n_items, item_popularity)
        users = np.nonzero(np.diff(relevant.indptr) > 0)[0]
        fn = score_fn
        if self.catalog_only:
            outside = None

            def fn(u: Tensor) -> Tensor:  # non-catalog items scored -inf = never recommended
                nonlocal outside
                s = score_fn(u)
                if outside is None:
                    outside = torch.from_numpy(~catalog).to(s.device)
                return s.masked_fill(outside, float("-inf"))

        top = topk_from_scorer(
            fn, torch.from_numpy(users), max(self.ks), exclude, self.chunk_size
        ).cpu().numpy()
        return self._report(top, relevant, users, int(catalog.sum()), pop, activity)
