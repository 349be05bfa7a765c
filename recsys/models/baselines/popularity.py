"""Most-popular baseline: every user gets the items' training interaction counts."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import FittedBaseline, as_train_matrix

__all__ = ["PopularityRecommender"]


class PopularityRecommender(FittedBaseline):
    """Scores each item by how many training users interacted with it (the same for every user).

    The count is of stored (non-zero) ratings, not their sum, so a 5-star and a 0.5-star rating
    count alike.
    """

    _hparams = ()

    def __init__(self) -> None:
        super().__init__()
        self.counts: np.ndarray | None = None

    def fit(self, train: sp.csr_matrix) -> None:
        """Count interactions per item.

        Args:
            train: users x items CSR matrix of ratings, 0 = unobserved.
        """
        x = as_train_matrix(train)
        self._set_shape(x)
        self.counts = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.n_items))

    def _state(self) -> dict[str, np.ndarray | sp.csr_matrix]:
        return {**super()._state(), "counts": self.counts}

    def _set_state(self, state: dict[str, np.ndarray | sp.csr_matrix]) -> None:
        super()._set_state(state)
        self.counts = np.asarray(state["counts"], dtype=np.float32)
