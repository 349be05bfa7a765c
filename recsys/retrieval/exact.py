"""Exact top-K: one matrix product over the catalogue, exclusions and filters as a mask.

The same ranking as offline evaluation (``recsys.evaluation.topk``): score every catalogue item
by inner product, set excluded and filtered-out items to ``-inf``, take the top k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys.retrieval.base import ItemPayload, Retriever, SearchFilters, SearchResult


class ExactRetriever(Retriever):
    """Exact inner-product search over ``item_vectors`` (n_items, D) restricted to the payload's catalogue."""

    def __init__(self, item_vectors: np.ndarray, payload: ItemPayload) -> None:
        self.payload = payload
        self.vectors = torch.from_numpy(np.ascontiguousarray(item_vectors[payload.item_idx], dtype=np.float32))
        self.position = {int(item): p for p, item in enumerate(payload.item_idx)}
        self.dim = int(self.vectors.shape[1])

    def _search(
        self, queries: np.ndarray, k: int, exclude_ids: Sequence[Sequence[int]] | None, filters: SearchFilters | None
    ) -> SearchResult:
        scores = torch.from_numpy(queries) @ self.vectors.T
        allowed = torch.from_numpy(self.payload.mask(filters))
        scores[:, ~allowed] = float("-inf")
        for row, excluded in enumerate(exclude_ids or []):
            positions = [self.position[int(i)] for i in excluded if int(i) in self.position]
            if positions:
                scores[row, positions] = float("-inf")
        k_eff = min(k, scores.shape[1])
        top_scores, top = torch.topk(scores, k_eff, dim=1)
        ids = self.payload.item_idx[top.numpy()]
        top_scores = top_scores.numpy()
        ids = np.where(np.isfinite(top_scores), ids, -1)
        if k_eff < k:
            ids = np.pad(ids, ((0, 0), (0, k - k_eff)), constant_values=-1)
            top_scores = np.pad(top_scores, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
        return SearchResult(ids=ids, scores=top_scores)
