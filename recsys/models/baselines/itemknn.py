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
    processed in chunks of ``max_block // n_items`` rows whose sparse co-occurrence block holds at
    most ``max_block`` entries; the full I x I matrix is never materialised. Self-similarity and
    non-positive similarities are dropped.

    Args:
        x: users x items CSR matrix (float32).
        k: neighbours kept per item.
        shrinkage: added to the norm product; shrinks similarities backed by few co-ratings.
        max_block: bound on chunk_size * n_items, the worst-case non-zeros of one block.

    Returns:
        CSR matrix ``W`` of shape (n_items, n_items) with ``W[i, j] = sim(i, j)`` when ``i`` is one
        of the ``k`` most similar items to ``j`` (else 0): column ``j`` holds the neighbours of
        target item ``j``, so ``x_u @ W`` scores user ``u``.
    """
    n_items = x.shape[1]
    xt = x.T.tocsr()  # items x users
    norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=1)).ravel()).astype(np.float32)
    k = min(k, n_items)
    chunk = max(1, min(n_items, max_block // max(n_items, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n_items, chunk):
        block = xt[start : start + chunk]
        target, neighbour, sim = _chunk_topk(block, x, norms, start, k, shrinkage)
        rows.append(target)
        cols.append(neighbour)
        vals.append(sim)
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


def _chunk_topk(
    xt_chunk: sp.csr_matrix,
    x: sp.csr_matrix,
    norms: np.ndarray,
    start: int,
    k: int,
    shrinkage: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` positive shrunk-cosine neighbours of the items ``start : start + len(xt_chunk)``.

    Works row by row on the sparse co-occurrence block (at most chunk x I non-zeros): rows with at
    most ``k`` entries are kept whole, longer ones are cut with ``argpartition``.

    Returns:
        ``(target, neighbour, similarity)`` arrays of equal length.
    """
    block = sp.csr_matrix(xt_chunk @ x)  # (c, I) dot products between chunk items and all items
    row_nnz = np.diff(block.indptr)
    target = np.repeat(np.arange(start, start + block.shape[0]), row_nnz)
    denom = norms[target] * norms[block.indices] + np.float32(shrinkage)
    sim = np.divide(block.data, denom, out=np.zeros_like(block.data), where=denom > 0)
    sim[(block.indices == target) | ~(sim > 0)] = 0.0  # drop self- and non-positive similarity
    keep = np.repeat(row_nnz <= k, row_nnz)
    for row in np.flatnonzero(row_nnz > k):
        lo, hi = block.indptr[row], block.indptr[row + 1]
        keep[lo + np.argpartition(-sim[lo:hi], k - 1)[:k]] = True
    keep &= sim > 0
    return target[keep], block.indices[keep].astype(np.int64), sim[keep].astype(np.float32)


class ItemKNNRecommender(FittedBaseline):
    """Item-item kNN (Deshpande & Karypis 2004; Sarwar et al. 2001) with shrunk cosine similarity.

    ``score(u, j) = sum_{i in N_k(j)} x_ui * sim(i, j)`` where ``N_k(j)`` are the ``k_neighbors``
    items most similar to ``j``. Everything is sparse and chunked (see `topk_cosine_neighbours`):
    memory is one bounded co-occurrence block plus ``I * k_neighbors`` kept similarities, so it
    runs on 59K items (about 2 s for 59K items x 2.2M interactions on 2 cores).

    Args:
        k_neighbors: neighbours kept per target item.
        shrinkage: shrinkage term added to the cosine denominator (0 = plain cosine).
        binarize: treat every rating as 1 (implicit feedback); else use the rating values both for
            similarities and for scoring.
    """

    _hparams = ("k_neighbors", "shrinkage", "binarize")

    def __init__(
        self, k_neighbors: int = 100, shrinkage: float = 10.0, binarize: bool = True
    ) -> None:
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
