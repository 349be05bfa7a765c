"""Random baseline: seeded scores that are reproducible per (seed, user)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import FittedBaseline, as_train_matrix

__all__ = ["RandomRecommender"]


class RandomRecommender(FittedBaseline):
    """Uniform random scores in [0, 1), a different permutation per user.

    User ``u``'s scores come from ``numpy.random.default_rng([seed, u])``, so they depend only on
    ``seed`` and ``u``: the same across calls, batch compositions, processes and save/load.

    Args:
        seed: base seed.
    """

    _hparams = ("seed",)

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.seed = int(seed)

    def fit(self, train: sp.csr_matrix) -> None:
        """Record the matrix shape; nothing is learned.

        Args:
            train: users x items CSR matrix of ratings, 0 = unobserved.
        """
        self._set_shape(as_train_matrix(train))

    def _score(self, users: np.ndarray) -> np.ndarray:
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        for row, user in enumerate(users):
            rng = np.random.default_rng([self.seed, int(user)])
            out[row] = rng.random(self.n_items, dtype=np.float32)
        return out
