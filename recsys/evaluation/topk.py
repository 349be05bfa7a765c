"""Exact top-k retrieval over the whole catalog, for full-ranking evaluation.

Tie rule (both backends, and the scorer path): higher score first, equal scores in ascending item
index. Users get ``-1`` where fewer than ``k`` items are eligible.

Embedding path: a backend (torch matmul or faiss ``IndexFlatIP``) proposes ``k + _EXTRA`` eligible
candidates per user from float32 scores; the candidates are then re-scored in float64 by the same
code for both backends and ordered by the tie rule. A row is accepted only when no item outside
its candidates can reach the k-th float64 score, given a bound on the float32 rounding error;
other rows (ties at the boundary, too few eligible candidates) are ranked again over the whole
catalog in float64. Both backends therefore return identical results.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from recsys.evaluation.exclusion import ChunkExclusions, Exclusions, csr_contains
from recsys.evaluation.exclusion import mask_csr_ as _mask_

__all__ = ["FaissSearch", "TorchSearch", "csr_contains", "topk_from_embeddings", "topk_from_scorer"]

_EXTRA = 8  # candidates beyond k; more means fewer whole-catalog re-rankings on ties
_GPU_FAISS_MAX_K = 2048
_NEG_INF = float("-inf")
# A candidate search is built from the (I, D) float32 item vectors: TorchSearch or FaissSearch.
SearchFactory = Callable[[Tensor], "TorchSearch | FaissSearch"]


def _tie_sort(idx: Tensor, scores: Tensor) -> tuple[Tensor, Tensor]:
    """Order (B, C) candidates by descending score, then ascending item index."""
    o = torch.argsort(idx, dim=1, stable=True)
    idx, scores = idx.gather(1, o), scores.gather(1, o)
    o = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return idx.gather(1, o), scores.gather(1, o)


def _full_sort(scores: Tensor, k: int) -> Tensor:
    """Top-k of whole (B, I) masked score rows by the tie rule, padded with -1."""
    vals, idx = torch.sort(scores, dim=1, descending=True, stable=True)
    idx, vals = idx[:, :k], vals[:, :k]
    idx = idx.masked_fill(vals == _NEG_INF, -1)
    if idx.shape[1] < k:
        idx = torch.nn.functional.pad(idx, (0, k - idx.shape[1]), value=-1)
    return idx


def _select(cand: Tensor, scores: Tensor, floor: Tensor, delta: Tensor | float, k: int):
    """Rank (B, C) candidates and tell which rows are provably exact.

    Args:
        cand: candidate items (B, C), -1 for none.
        scores: their exact scores (B, C), -inf for none or excluded.
        floor: (B,) bound above every approximate score outside the candidates; -inf when the
            candidates hold every eligible item.
        delta: bound on |approximate - exact| score, scalar or (B,).
        k: items to return.

    Returns:
        ``(topk (B, k) with -1 padding, ok (B,) bool)``.
    """
    idx, sc = _tie_sort(cand, scores)
    if idx.shape[1] < k:
        pad = k - idx.shape[1]
        idx = torch.nn.functional.pad(idx, (0, pad), value=-1)
        sc = torch.nn.functional.pad(sc, (0, pad), value=_NEG_INF)
    idx, sc = idx[:, :k], sc[:, :k]
    idx = idx.masked_fill(sc == _NEG_INF, -1)
    floor = floor.to(sc.dtype)
    ok = (floor == _NEG_INF) | (sc[:, k - 1] > floor + delta)
    return idx, ok


def _error_bound(dim: int, device: torch.device, faiss_gpu: bool = False) -> float:
    """Relative float32 inner-product error: input rounding (TF32/bf16) plus accumulation."""
    u_in = 0.0
    precision = torch.get_float32_matmul_precision()
    if precision == "medium":
        u_in = 2.0**-8
    elif precision == "high" or faiss_gpu or (
        device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    ):
        u_in = 2.0**-10
    return 1.1 * (2 * u_in + dim * 2.0**-24) + 1e-12


class TorchSearch:
    """Candidates from a masked float32 matmul and a top-k over each score row.

    The score buffer is allocated once and reused: fresh chunk-sized tensors cost page faults
    comparable to the matmul itself on CPU. Items are padded to whole blocks of ``_BLOCK``.

    Args:
        items: (I, D) float32 item vectors.
        block_search: take the top-k in two levels (maximum of each block of ``_BLOCK`` items,
            the top blocks, then the top items inside them; exact). None: on CPU only, where a
            plain ``torch.topk`` over 59k columns costs as much as the matmul; on a GPU one
            ``torch.topk`` pass is as cheap as the block maxima.
    """

    _BLOCK = 64
    order_by_exclusions = False

    def __init__(self, items: Tensor, block_search: bool | None = None) -> None:
        self.n_items, dim = items.shape
        self.n_pad = -(-self.n_items // self._BLOCK) * self._BLOCK
        pad = items.new_zeros(self.n_pad - self.n_items, dim)
        self.items = torch.cat([items, pad])
        self.buf: Tensor | None = None
        self.faiss_gpu = False
        self.block_search = (not items.is_cuda) if block_search is None else bool(block_search)

    def __call__(self, u: Tensor, excl: ChunkExclusions | None, c: int):
        """(B, D) users -> (candidates (B, c) with -1 for none, floor (B,)) (see :func:`_select`)."""
        n_b, n = u.shape[0], self.n_items
        if self.buf is None or self.buf.shape[0] < n_b:
            self.buf = torch.empty(n_b, self.n_pad, dtype=torch.float32, device=u.device)
        scores = torch.mm(u, self.items.T, out=self.buf[:n_b])
        scores[:, n:] = _NEG_INF
        if excl is not None:
            excl.mask_(scores)
        n_blocks = self.n_pad // self._BLOCK
        if c >= n:
            vals, cand = scores[:, :n], torch.arange(n, device=u.device).expand(n_b, n)
            floor = torch.full_like(vals[:, 0], _NEG_INF)
        elif not self.block_search or n_blocks <= 2 * c:  # padding columns are -inf: never candidates
            vals, cand = torch.topk(scores, c, dim=1, sorted=False)
            floor = vals.min(dim=1).values
        else:  # the top c items lie in the c blocks with the highest maxima
            blocks = scores.view(n_b, n_blocks, self._BLOCK)
            bmax, bidx = torch.topk(blocks.amax(dim=2), c, dim=1, sorted=False)
            picked = blocks.gather(1, bidx[:, :, None].expand(n_b, c, self._BLOCK))
            vals, pos = torch.topk(picked.reshape(n_b, c * self._BLOCK), c, dim=1, sorted=False)
            cand = bidx.gather(1, pos // self._BLOCK) * self._BLOCK + pos % self._BLOCK
            # items outside the picked blocks score at most the lowest picked block maximum
            floor = torch.maximum(vals.min(dim=1).values, bmax.min(dim=1).values)
        return cand.masked_fill(vals == _NEG_INF, -1), floor


class FaissSearch:
    """Candidates from ``faiss.IndexFlatIP``, searched deep enough to survive exclusion."""

    # users with similar exclusion counts in one chunk -> shallower searches
    order_by_exclusions = True

    def __init__(self, items: Tensor) -> None:
        import faiss

        self.n_items, dim = items.shape
        index = faiss.IndexFlatIP(dim)
        index.add(np.ascontiguousarray(items.detach().cpu().numpy(), dtype=np.float32))
        self.faiss_gpu = (
            items.is_cuda and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
        )
        self.max_k = self.n_items
        if self.faiss_gpu:
            self._res = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._res, items.device.index or 0, index)
            self.max_k = min(self.n_items, _GPU_FAISS_MAX_K)
        self.index = index

    def __call__(self, u: Tensor, excl: ChunkExclusions | None, c: int):
        """(B, D) users -> (candidates (B, c) with -1 for none, floor (B,)) (see :func:`_select`)."""
        n_b = u.shape[0]
        sub = excl.csr() if excl is not None else None
        n_excl = int(np.diff(sub.indptr).max()) if sub is not None and sub.nnz else 0
        depth = min(self.max_k, c + n_excl)
        dist, lab = self.index.search(np.ascontiguousarray(u.detach().cpu().numpy()), depth)
        elig = lab >= 0
        if n_excl:
            elig &= ~csr_contains(sub, np.arange(n_b)[:, None], lab)
        pos = np.cumsum(elig, axis=1) - 1
        keep = elig & (pos < c)
        rr, cc = np.nonzero(keep)
        cand = np.full((n_b, c), -1, dtype=np.int64)
        approx = np.full((n_b, c), -np.inf, dtype=np.float32)
        cand[rr, pos[rr, cc]] = lab[rr, cc]
        approx[rr, pos[rr, cc]] = dist[rr, cc]
        truncated = keep.sum(axis=1) == c
        searched_all = depth >= self.n_items
        floor = np.where(truncated, approx[:, -1], -np.inf if searched_all else dist[:, -1])
        return torch.from_numpy(cand).to(u.device), torch.from_numpy(floor).to(u.device)


def _chunks(exclusions: Exclusions, n: int, chunk_size: int, by_count: bool):
    """Yield (rows, their exclusions) per chunk: a slice of consecutive users, or (``by_count``)
    an ascending int array of users with similar exclusion counts (shallower faiss searches)."""
    order = None
    if by_count and exclusions.csr is not None:
        order = np.argsort(np.diff(exclusions.csr.indptr), kind="stable")
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        rows = slice(start, stop) if order is None else np.sort(order[start:stop])
        yield rows, ChunkExclusions(exclusions, rows)


def _check(k: int, n_rows: int, n_items: int, exclude: sp.csr_matrix | None) -> None:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if exclude is not None and exclude.shape != (n_rows, n_items):
        raise ValueError(f"exclude has shape {exclude.shape}, expected {(n_rows, n_items)}")


@torch.no_grad()
def topk_from_embeddings(
    user_emb: Tensor,
    item_emb: Tensor,
    k: int,
    exclude: sp.csr_matrix | None = None,
    backend: SearchFactory = TorchSearch,
    chunk_size: int = 4096,
    stats: dict[str, int] | None = None,
) -> Tensor:
    """Exact top-k items by inner product, excluded items removed, ties by item index.

    Args:
        user_emb: user embeddings of shape (U, D).
        item_emb: item embeddings of shape (I, D), on the same device.
        k: items per user.
        exclude: optional CSR of shape (U, I); stored entries are never recommended.
        backend: the candidate search, built from the (I, D) item vectors (``conf/eval`` instantiates
            it): :class:`TorchSearch` (matmul + topk on the tensors' device) or :class:`FaissSearch`
            (``IndexFlatIP``; a GPU index when faiss has GPU support and the tensors are on CUDA).
        chunk_size: users scored at once; peak memory is about chunk_size x I x 4 bytes.
        stats: optional dict that receives ``whole_catalog_rows``, the users ranked again over
            the whole catalogue in float64 (boundary ties, too few eligible candidates).

    Returns:
        LongTensor of shape (U, k) on ``user_emb.device``, -1 where fewer than k items are eligible.
    """
    n_users, n_items = user_emb.shape[0], item_emb.shape[0]
    exclude = sp.csr_matrix(exclude) if exclude is not None else None
    _check(k, n_users, n_items, exclude)
    device = user_emb.device
    out = torch.full((n_users, k), -1, dtype=torch.long, device=device)
    if n_users == 0 or n_items == 0:
        return out
    if not callable(backend):
        raise ValueError(f"backend must be a search class such as TorchSearch or FaissSearch, got {backend!r}")
    items32 = item_emb.detach().float().contiguous()
    items64 = items32.double()
    search = backend(items32)
    exclusions = Exclusions(exclude, device)
    rel = _error_bound(items32.shape[1], device, search.faiss_gpu)
    vmax = items64.norm(dim=1).max()
    exact_rows = torch.ones(n_users, dtype=torch.bool, device=device)
    # No host synchronisation inside the loop: the GPU queues chunk after chunk.
    for rows, excl in _chunks(exclusions, n_users, chunk_size, by_count=search.order_by_exclusions):
        index = rows if isinstance(rows, slice) else torch.from_numpy(rows).to(device)
        u32 = user_emb[index].detach().float()
        u64 = u32.double()
        cand, floor = search(u32, excl, k + _EXTRA)
        picked = items64.index_select(0, cand.clamp(min=0).flatten()).view(*cand.shape, -1)
        exact = torch.einsum("bd,bcd->bc", u64, picked).masked_fill(cand < 0, _NEG_INF)
        out[index], exact_rows[index] = _select(cand, exact, floor, rel * u64.norm(dim=1) * vmax, k)
    redo = torch.nonzero(~exact_rows).flatten()  # the one synchronisation
    if stats is not None:
        stats["whole_catalog_rows"] = int(redo.numel())
    for start in range(0, redo.numel(), chunk_size):  # boundary ties, too few candidates: float64
        index = redo[start : start + chunk_size]
        full = user_emb[index].detach().float().double() @ items64.T
        out[index] = _full_sort(exclusions.mask_rows_(full, index.cpu().numpy()), k)
    return out


@torch.no_grad()
def topk_from_scorer(
    score_fn: Callable[[Tensor], Tensor],
    users: Tensor,
    k: int,
    exclude: sp.csr_matrix | None = None,
    chunk_size: int = 4096,
) -> Tensor:
    """Exact top-k from a model that scores users against the whole catalog.

    Args:
        score_fn: ``score_fn(user_idx LongTensor (B,)) -> Tensor (B, I)``; -inf and NaN scores
            mark items that must not be recommended. The returned tensor is not modified.
        users: user indices of shape (N,).
        k: items per user.
        exclude: optional CSR of shape (n_users, I) indexed by user id (row ``users[j]``).
        chunk_size: users scored at once.

    Returns:
        LongTensor of shape (N, k) on the device of the scores, -1 padded; ties by item index.
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    users = torch.as_tensor(users, dtype=torch.long)
    exclude = sp.csr_matrix(exclude) if exclude is not None else None
    parts = []
    for start in range(0, users.shape[0], chunk_size):
        batch = users[start : start + chunk_size]
        scores = score_fn(batch)
        scores = scores.to(torch.float64 if scores.dtype == torch.float64 else torch.float32,
                           copy=True)
        scores.masked_fill_(torch.isnan(scores), _NEG_INF)
        sub = exclude[batch.cpu().numpy()] if exclude is not None else None
        if sub is not None and sub.shape[1] != scores.shape[1]:
            raise ValueError(f"exclude has {sub.shape[1]} items, scores have {scores.shape[1]}")
        _mask_(scores, sub)
        n_items = scores.shape[1]
        vals, cand = torch.topk(scores, min(k + _EXTRA, n_items), dim=1, sorted=False)
        if k + _EXTRA < n_items:
            floor = vals.min(dim=1).values
        else:
            floor = torch.full_like(vals[:, 0], _NEG_INF)
        top, ok = _select(cand, vals, floor, 0.0, k)
        redo = torch.nonzero(~ok).flatten()
        if redo.numel():
            top[redo] = _full_sort(scores[redo], k)
        parts.append(top)
    if not parts:
        return torch.empty((0, k), dtype=torch.long)
    return torch.cat(parts)
