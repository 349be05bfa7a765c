"""A full-ranking evaluation task: which users, which items to skip, which are relevant.

Built once from a split (``val`` against ``train``, or ``test`` against ``train`` + ``val``) by
:func:`recsys.evaluation.evaluate.build_task`; every model is then evaluated on it through
``evaluate_vectors`` or ``evaluate_scorer``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from recsys.evaluation.protocol import EvaluationProtocol


def restrict_columns(matrix: sp.csr_matrix, catalog: np.ndarray) -> sp.csr_matrix:
    """Keep only the catalogue's columns, renumbered 0..len(catalog)-1 in catalogue order."""
    return matrix.tocsc()[:, catalog].tocsr()


@dataclass
class FullRankingTask:
    """Users to evaluate with their excluded and relevant items, in catalogue coordinates.

    Attributes:
        catalog: item indices ranked (those with training interactions), shape (C,).
        exclude: csr (n_users, C) of items never recommended to the user (train, and val for test).
        relevant: csr (n_users, C) of relevant held-out items.
        users: users with at least one relevant item, LongTensor (U_eval,).
        protocol: the settings it was built with (cut-offs, backend, chunk size, activity buckets).
        n_users_skipped: users with held-out ratings but no relevant catalogue item.
    """

    catalog: np.ndarray
    exclude: sp.csr_matrix
    relevant: sp.csr_matrix
    users: torch.Tensor
    protocol: EvaluationProtocol
    n_users_skipped: int = 0

    @property
    def ks(self) -> tuple[int, ...]:
        return self.protocol.ks

    @property
    def backend(self):  # noqa: ANN201 - a search class, see EvaluationProtocol
        return self.protocol.backend

    @property
    def chunk_size(self) -> int:
        return self.protocol.chunk_size

    @property
    def activity_buckets(self) -> tuple[int, ...]:
        return self.protocol.activity_buckets

    @classmethod
    def build(
        cls,
        n_users: int,
        n_items: int,
        catalog: np.ndarray,
        exclude_parts: list[tuple[np.ndarray, np.ndarray]],
        held_out: tuple[np.ndarray, np.ndarray, np.ndarray],
        protocol: EvaluationProtocol,
    ) -> FullRankingTask:
        """Build the task from index arrays.

        Args:
            exclude_parts: (user_idx, item_idx) arrays of the splits to exclude.
            held_out: (user_idx, item_idx, rating) of the split to evaluate.
            protocol: relevance threshold, cut-offs, backend, chunk size and activity buckets.
        """
        exclude = restrict_columns(protocol.build_exclude(n_users, n_items, *exclude_parts), catalog)
        users, items, ratings = held_out
        relevant = restrict_columns(protocol.build_relevant(users, items, ratings, n_users, n_items), catalog)
        counts = np.diff(relevant.indptr)
        evaluated = np.flatnonzero(counts > 0)
        with_held_out = np.unique(users)
        return cls(
            catalog=catalog,
            exclude=exclude,
            relevant=relevant,
            users=torch.from_numpy(evaluated.astype(np.int64)),
            protocol=protocol,
            n_users_skipped=int(len(with_held_out) - len(evaluated)),
        )
