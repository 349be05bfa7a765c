"""Items never to rank for each user (training items), applied to chunks of score rows.

:class:`Exclusions` copies the entries of a (U, I) CSR to the scoring device once, as (row, column)
index tensors, so that masking a chunk of consecutive users is one ``index_put_`` on the device:
no CSR slicing, no host work and no host-to-device copy per chunk, so the GPU never waits for the
host between chunks. Chunks of arbitrary users (the faiss backend, rows re-ranked over the whole
catalogue) use the host CSR rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

_NEG_INF = float("-inf")


def csr_contains(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Vectorised membership test of (row, col) pairs in the stored entries of a CSR matrix.

    Args:
        matrix: sparse matrix of shape (R, C); every stored entry counts, whatever its value.
        rows: int array of row indices, broadcastable with ``cols``.
        cols: int array of column indices; negative values (padding) give False.

    Returns:
        Boolean array of the broadcast shape of ``rows`` and ``cols``.
    """
    m = matrix.tocsr()
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    if m.nnz == 0:
        return np.zeros(rows.shape, dtype=bool)
    n_cols = m.shape[1]
    owner = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keys = owner * n_cols + m.indices.astype(np.int64)  # sorted: rows ascend, columns ascend
    query = rows * n_cols + cols
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return (keys[pos] == query) & (cols >= 0) & (cols < n_cols)


def mask_csr_(scores: Tensor, sub: sp.csr_matrix | None) -> Tensor:
    """Set the stored (row, item) entries of ``sub`` (B, I) to -inf in ``scores`` (B, I), in place."""
    if sub is not None and sub.nnz:
        rows = np.repeat(np.arange(sub.shape[0], dtype=np.int64), np.diff(sub.indptr))
        cols = sub.indices[sub.indptr[0] : sub.indptr[-1]].astype(np.int64)
        r, c = torch.from_numpy(rows).to(scores.device), torch.from_numpy(cols).to(scores.device)
        scores[r, c] = _NEG_INF
    return scores


class Exclusions:
    """A (U, I) exclusion CSR with its entries held on ``device`` as index tensors.

    Args:
        csr: stored entries are excluded, whatever their value; None excludes nothing.
        device: where the scores are computed.

    Device memory: 8 bytes per stored entry (int32 rows and columns; ~160 MB for ML-25M's 19.6M
    training ratings), allocated on the first :meth:`mask_span_`.
    """

    def __init__(self, csr: sp.csr_matrix | None, device: torch.device) -> None:
        self.csr = csr if csr is not None and csr.nnz else None
        self.device = device
        self._entries: tuple[Tensor, Tensor] | None = None
        if self.csr is not None:
            indptr = np.asarray(self.csr.indptr, dtype=np.int64)
            self.indptr = indptr - indptr[0]

    def entries(self) -> tuple[Tensor, Tensor]:
        """(row, column) int32 tensors (nnz,) of the stored entries on the device (copied once)."""
        if self._entries is None:
            assert self.csr is not None
            indptr, nnz = self.csr.indptr, int(self.indptr[-1])
            counts = torch.from_numpy(np.diff(self.indptr)).to(self.device)
            rows = torch.arange(self.csr.shape[0], dtype=torch.int32, device=self.device)
            rows = torch.repeat_interleave(rows, counts, output_size=nnz)  # output_size: no sync
            cols = np.asarray(self.csr.indices[indptr[0] : indptr[-1]]).astype(np.int32, copy=False)
            self._entries = rows, torch.from_numpy(cols).to(self.device)
        return self._entries

    def mask_span_(self, scores: Tensor, start: int, stop: int) -> Tensor:
        """-inf, in place, where users ``start..stop-1`` (rows of ``scores`` (stop - start, >= I)) exclude."""
        if self.csr is None:
            return scores
        a, b = int(self.indptr[start]), int(self.indptr[stop])
        if b > a:
            rows, cols = self.entries()
            scores[rows[a:b].long() - start, cols[a:b].long()] = _NEG_INF
        return scores

    def sub(self, rows: slice | np.ndarray) -> sp.csr_matrix | None:
        """The host CSR rows of the given users (None when nothing is excluded)."""
        return None if self.csr is None else self.csr[rows]

    def mask_rows_(self, scores: Tensor, rows: np.ndarray) -> Tensor:
        """-inf, in place, where the given users (rows of ``scores``) exclude (host CSR rows)."""
        return mask_csr_(scores, self.sub(rows))


class ChunkExclusions:
    """The exclusions of one chunk of users, as a candidate search consumes them.

    Args:
        exclusions: the whole ranking's exclusions.
        rows: the chunk's users: a ``slice`` of consecutive users (masked on the device) or an
            ascending int array (masked from the host CSR).
    """

    def __init__(self, exclusions: Exclusions, rows: slice | np.ndarray) -> None:
        self.exclusions, self.rows = exclusions, rows
        self._sub: sp.csr_matrix | None = None

    def csr(self) -> sp.csr_matrix | None:
        """The chunk's host CSR rows (computed once, on first use)."""
        if self._sub is None:
            self._sub = self.exclusions.sub(self.rows)
        return self._sub

    def mask_(self, scores: Tensor) -> Tensor:
        """-inf, in place, at the chunk's excluded (row, item) entries of ``scores`` (B, >= I)."""
        if isinstance(self.rows, slice):
            return self.exclusions.mask_span_(scores, self.rows.start, self.rows.stop)
        return mask_csr_(scores, self.csr())
