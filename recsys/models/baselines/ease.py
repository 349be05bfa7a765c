"""EASE^R (Steck 2019): a closed-form item-item linear autoencoder."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.models.base import FittedBaseline, as_train_matrix

__all__ = ["EASERecommender", "ease_weights"]


def ease_weights(x: sp.csr_matrix, l2: float, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Closed-form EASE item-item weights.

    ``G = X^T X + l2 I``, ``P = G^-1``, ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``.
    ``G`` is symmetric positive definite for ``l2 > 0``, so ``P`` comes from a Cholesky
    factorisation, in place where possible: peak memory is about three I x I matrices of ``dtype``.

    Args:
        x: users x items CSR matrix.
        l2: L2 regularisation (lambda), > 0.
        dtype: torch dtype of the solve (float32 or float64).

    Returns:
        Float32 array ``B`` of shape (n_items, n_items); a user's scores are ``x_u @ B``.
    """
    gram = torch.from_numpy(np.asarray((x.T @ x).todense())).to(dtype)  # (I, I)
    gram.diagonal().add_(l2)
    chol, info = torch.linalg.cholesky_ex(gram)
    del gram
    if int(info) != 0:
        raise np.linalg.LinAlgError(f"X^T X + l2 I is not positive definite (l2={l2}); raise l2")
    p = torch.cholesky_inverse(chol)
    del chol
    diag = p.diagonal().clone()
    p.div_(-diag)  # column j divided by P_jj: B_ij = -P_ij / P_jj
    p.diagonal().zero_()
    return p.to(torch.float32).numpy()


class EASERecommender(FittedBaseline):
    """EASE^R (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

    ``score(u) = x_u @ B`` with the closed-form ``B`` of `ease_weights`. ``B`` is a dense
    I x I float32 matrix (9.7K items -> 380 MB; 59K items -> 14 GB), so fitting refuses catalogues
    larger than ``max_items``. The model keeps the training matrix ``X`` to score users.

    Args:
        l2: L2 regularisation lambda (Steck uses 100-1000 on MovieLens-scale data).
        binarize: treat every rating as 1 (implicit feedback); else use rating values.
        max_items: refuse to fit above this many items, since memory is O(n_items^2).
        dtype: "float32" (default) or "float64" for the Gram matrix inversion.
    """

    _hparams = ("l2", "binarize", "max_items", "dtype")

    def __init__(
        self,
        l2: float = 500.0,
        binarize: bool = True,
        max_items: int = 30_000,
        dtype: str = "float32",
    ) -> None:
        super().__init__()
        if float(l2) <= 0:
            raise ValueError(f"l2 must be > 0 (X^T X alone may be singular), got {l2}")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.l2 = float(l2)
        self.binarize = bool(binarize)
        self.max_items = int(max_items)
        self.dtype = dtype
        self.x: sp.csr_matrix | None = None
        self.weights: np.ndarray | None = None

    def fit(self, train: sp.csr_matrix) -> None:
        """Solve for the item-item weight matrix.

        Args:
            train: users x items CSR matrix of ratings, 0 = unobserved.

        Raises:
            ValueError: if ``n_items > max_items``.
        """
        n_items = int(train.shape[1])
        if n_items > self.max_items:
            gib = 3 * n_items**2 * (4 if self.dtype == "float32" else 8) / 2**30
            raise ValueError(
                f"EASE needs dense n_items x n_items matrices (O(I^2) memory): {n_items} items "
                f"~ {gib:.1f} GiB peak, above max_items={self.max_items}. Filter rare items, use "
                f"ItemKNNRecommender or ALSRecommender, or raise max_items (model.max_items=...) "
                f"if the machine has the memory."
            )
        x = as_train_matrix(train, binarize=self.binarize)
        self._set_shape(x)
        self.x = x
        self.weights = ease_weights(x, self.l2, getattr(torch, self.dtype))

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.x[users] @ self.weights

    def _state(self) -> dict[str, np.ndarray | sp.csr_matrix]:
        return {**super()._state(), "x": self.x, "weights": self.weights}

    def _set_state(self, state: dict[str, np.ndarray | sp.csr_matrix]) -> None:
        super()._set_state(state)
        self.x, self.weights = state["x"], np.asarray(state["weights"], dtype=np.float32)
