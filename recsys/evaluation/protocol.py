"""Full-ranking evaluation protocol: what counts as relevant, what is excluded, and the cut-offs.

The settings of ``conf/eval/*.yaml`` (instantiated by ``train()``, ``eval.py`` and the scripts)
and the builders of the relevance and exclusion matrices; plain numpy/scipy in and out, so that
it does not depend on how the data are loaded. ``recsys.evaluation.evaluate.build_task`` turns a
protocol and a data split into a :class:`~recsys.evaluation.full_ranking.FullRankingTask`, and
``evaluate_vectors`` / ``evaluate_scorer`` are the one driver every model goes through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from torch import Tensor

from recsys.evaluation.topk import TorchSearch
from recsys.utils.partials import plain_partial

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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_ints(field: str, values: object, example: str, empty_ok: bool = False) -> tuple[int, ...]:
    """``values`` as a tuple of positive integers, or a ValueError naming ``field`` and an example."""
    try:
        items = list(values)  # type: ignore[call-overload]
    except TypeError:
        items = [values]
    if (not items and not empty_ok) or not all(_is_int(v) and v > 0 for v in items):
        raise ValueError(f"{field} must be a list of positive integers, got {values!r}; e.g. {example}")
    return tuple(items)


@dataclass(frozen=True)
class EvaluationProtocol:
    """Settings of a full-ranking evaluation.

    Attributes:
        relevance_threshold: test ratings at or above it are relevant; None = every test item.
        ks: cut-offs.
        backend: the top-K candidate search of embedding models, a class (or partial) built from
            the item vectors: ``recsys.evaluation.topk.TorchSearch`` or ``FaissSearch``.
        chunk_size: users scored at once.
        activity_buckets: edges on users' training counts for the per-bucket breakdown.

    The catalogue ranked is always the items seen in training: an item never trained on can
    neither be recommended nor be relevant.
    """

    relevance_threshold: float | None = 4.0
    ks: tuple[int, ...] = (5, 10, 20)
    backend: Callable[[Tensor], Any] = TorchSearch
    chunk_size: int = 4096
    activity_buckets: tuple[int, ...] = (5, 20, 100)

    def __post_init__(self) -> None:  # YAML lists become tuples (the dataclass is frozen)
        object.__setattr__(self, "ks", _positive_ints("eval.ks", self.ks, "eval.ks=[5,10,20]"))
        buckets = _positive_ints("eval.activity_buckets", self.activity_buckets, "eval.activity_buckets=[5,20,100]", empty_ok=True)
        if list(buckets) != sorted(set(buckets)):
            raise ValueError(f"eval.activity_buckets must be strictly increasing, got {list(buckets)}")
        object.__setattr__(self, "activity_buckets", buckets)
        if not _is_int(self.chunk_size) or self.chunk_size <= 0:
            raise ValueError(f"eval.chunk_size must be a positive integer (users scored at once), got {self.chunk_size!r}; e.g. eval.chunk_size=4096")
        if self.relevance_threshold is not None and (
            isinstance(self.relevance_threshold, bool) or not isinstance(self.relevance_threshold, (int, float))
        ):
            raise ValueError(f"eval.relevance_threshold must be a rating or null, got {self.relevance_threshold!r}")
        object.__setattr__(self, "backend", plain_partial(self.backend))  # frozen dataclass; picklable for ddp_spawn
        if not callable(self.backend):
            raise ValueError(f"eval.backend must be a search class (eval=default: TorchSearch, eval=faiss: FaissSearch), got {self.backend!r}")

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
