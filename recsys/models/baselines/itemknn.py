"""Item-based k-nearest-neighbours with shrunk cosine similarity (sparse, chunked)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import FittedBaseline, as_train_matrix

__all__ = ["ItemKNNRecommender", "topk_cosine_neighbours"]


def topk_cosine_neighbours(
    x: sp.csr_matrix, k: int, shrinkage: float, max_block: int = 2**24
) -> sp.csr_matrix:
    """Shrunk cosine similarity between items, keeping the top ``k`` neighbours of each item.

    ``sim(i, j) = x_i . x_j / (||x_i|| ||x_j|| + shrinkage)`` over item columns of ``x``. Items are
    processed in chunks of rows so that at most ``max_block`` dense similarities exist at a time;
    the full I x I matrix is never materialised. Self-similarity and non-positive similarities are
    dropped.

    Args:
        x: users x items CSR matrix (float32).
        k: neighbours kept per item.
        shrinkage: added to the norm product; shrinks similarities backed by few co-ratings.
        max_block: upper bound on chunk_size * n_items dense float32 entries.

    Returns:
        CSR matrix ``W`` of shape (n_items, n_items) with ``W[i, j] = sim(i, j)`` when ``i`` is one
        of the ``k`` most similar items to ``j`` (else 0): column ``j`` holds the neighbours of
        target item ``j``, so ``x_u @ W`` scores user ``u``.
    """
    n_items = x.shape[1]
    xt = x.T.tocsr()  # items x users
    norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=1)).ravel()).astype(np.float32)
    k = min(k, max(n_items - 1, 0))
    chunk = max(1, min(n_items, max_block // max(n_items, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n_items, chunk):
        stop = min(start + chunk, n_items)
        block = np.asarray((xt[start:stop] @ x).todense(), dtype=np.float32)  # (c, I) dot products
        denom = norms[start:stop, None] * norms[None, :] + np.float32(shrinkage)
        np.divide(block, denom, out=block, where=denom > 0)
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0  # no self-similarity
        if k <= 0:
            continue
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]  # (c, k) unsorted top-k columns
        top_vals = np.take_along_axis(block, top, axis=1)
        keep = top_vals > 0
        rows.append(np.broadcast_to(np.arange(start, stop)[:, None], top.shape)[keep])
        cols.append(top[keep])
        vals.append(top_vals[keep])
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    # (target, neighbour) pairs; transpose so that x_u @ W sums over the neighbours of each target.
    w_target = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    w = w_target.T.tocsr()
    w.sort_indices()
    return w


class ItemKNNRecommender(FittedBaseline):
    """Item-item kNN (Deshpande & Karypis 2004; Sarwar et al. 2001) with shrunk cosine similarity.

    ``score(u, j) = sum_{i in N_k(j)} x_ui * sim(i, j)`` where ``N_k(j)`` are the ``k_neighbors``
    items most similar to ``j``. Everything is sparse: fitting costs about ``I * max_block``
    floats of memory at a time plus ``I * k_neighbors`` kept similarities, so it runs on 59K items.

    Args:
        k_neighbors: neighbours kept per target item.
        shrinkage: shrinkage term added to the cosine denominator (0 = plain cosine).
        binarize: treat every rating as 1 (implicit feedback); else use the rating values both for
            similarities and for scoring.
    """

    _hparams = ("k_neighbors", "shrinkage", "binarize")

    def __init__(self, k_neighbors: int = 100, shrinkage: float = 10.0, binarize: bool = True) -> None:
        super().__init__()
        if int(k_neighbors) < 1:
            raise ValueError(f"k_neighbors must be >= 1, got {k_neighbors}")
        if float(shrinkage) < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        self.k_neighbors = int(k_neighbors)
        self.shrinkage = float(shrinkage)
        self.binarize = bool(binarize)
        self.x: sp.csr_matrix | None = None
        self.similarity: sp.csr_matrix | None = None

    def fit(self, train: sp.csr_matrix) -> None:
        """Compute the pruned item-item similarity matrix.

        Args:
            train: users x items CSR matrix of ratings, 0 = unobserved.
        """
        x = as_train_matrix(train, binarize=self.binarize)
        self._set_shape(x)
        self.x = x
        self.similarity = topk_cosine_neighbours(x, self.k_neighbors, self.shrinkage)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.x[users] @ self.similarity).toarray()

    def _state(self) -> dict[str, np.ndarray | sp.csr_matrix]:
        return {**super()._state(), "x": self.x, "similarity": self.similarity}

    def _set_state(self, state: dict[str, np.ndarray | sp.csr_matrix]) -> None:
        super()._set_state(state)
        self.x, self.similarity = state["x"], state["similarity"]
