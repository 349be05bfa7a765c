"""The retrieval interface and the item payload it filters on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SearchFilters:
    """Optional restrictions of a search: any of ``genres``; ``year_min <= year <= year_max``."""

    genres: tuple[str, ...] | None = None
    year_min: int | None = None
    year_max: int | None = None

    def __post_init__(self) -> None:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"year_min ({self.year_min}) must be <= year_max ({self.year_max})")
        if self.genres is not None and not self.genres:
            raise ValueError("genres must be None (any genre) or a non-empty list")

    @property
    def empty(self) -> bool:
        return self.genres is None and self.year_min is None and self.year_max is None


@dataclass(frozen=True)
class SearchResult:
    """Item indices ``ids`` (Q, k) best first, and their scores; ``-1`` / ``-inf`` pad rows that
    have fewer than k admissible items."""

    ids: np.ndarray
    scores: np.ndarray


class Retriever(ABC):
    """Top-K inner-product search over the item vectors of one model (``dim`` wide)."""

    dim: int

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        exclude_ids: Sequence[Sequence[int]] | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """The ``k`` best items for each row of ``vectors`` (Q, D), leaving out ``exclude_ids[q]``
        for row q and anything outside ``filters``."""
        return self._search(check_query(vectors, k, self.dim, exclude_ids), k, exclude_ids, filters)

    @abstractmethod
    def _search(
        self, queries: np.ndarray, k: int, exclude_ids: Sequence[Sequence[int]] | None, filters: SearchFilters | None
    ) -> SearchResult:
        """:meth:`search` on validated float32 queries."""


def result_from_hits(hits: Sequence[Sequence[tuple[int, float]]], k: int) -> SearchResult:
    """A :class:`SearchResult` from each query's (item, score) hits, best first, padded to ``k``."""
    ids = np.full((len(hits), k), -1, dtype=np.int64)
    scores = np.full((len(hits), k), -np.inf, dtype=np.float32)
    for row, row_hits in enumerate(hits):
        for col, (item, score) in enumerate(row_hits[:k]):
            ids[row, col], scores[row, col] = item, score
    return SearchResult(ids=ids, scores=scores)


@dataclass(frozen=True)
class ItemPayload:
    """What a retriever indexes per catalogue item: its index, genres and year."""

    item_idx: np.ndarray  # (C,) int64, the catalogue
    genres: list[list[str]]
    year: np.ndarray  # (C,) float, NaN when unknown

    @classmethod
    def from_items(cls, items: pd.DataFrame, catalog: np.ndarray | None = None) -> "ItemPayload":
        """From the exported ``items.parquet`` (item_idx, genres, year, popularity); the catalogue
        defaults to the items with training interactions (``popularity > 0``), as in evaluation."""
        frame = items.set_index("item_idx") if "item_idx" in items.columns else items
        if catalog is None:
            catalog = frame.index[frame["popularity"] > 0].to_numpy()
        rows = frame.loc[catalog]
        genres = [list(g) if g is not None and not isinstance(g, str) else ([] if not g else str(g).split("|")) for g in rows["genres"]]
        return cls(np.asarray(catalog, dtype=np.int64), genres, rows["year"].to_numpy(dtype=float))

    def mask(self, filters: SearchFilters | None) -> np.ndarray:
        """Boolean (C,) of the catalogue items that pass ``filters``."""
        keep = np.ones(len(self.item_idx), dtype=bool)
        if filters is None or filters.empty:
            return keep
        if filters.genres is not None:
            wanted = set(filters.genres)
            keep &= np.array([bool(wanted.intersection(g)) for g in self.genres])
        if filters.year_min is not None:
            keep &= self.year >= filters.year_min
        if filters.year_max is not None:
            keep &= self.year <= filters.year_max
        return keep


def check_query(vectors: np.ndarray, k: int, dim: int, exclude_ids: Sequence[Sequence[int]] | None) -> np.ndarray:
    """Validate a search's arguments; returns the vectors as float32 (Q, D)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"query vectors must have shape (Q, {dim}), got {vectors.shape}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if exclude_ids is not None and len(exclude_ids) != len(vectors):
        raise ValueError(f"exclude_ids has {len(exclude_ids)} rows for {len(vectors)} query vectors")
    return vectors
