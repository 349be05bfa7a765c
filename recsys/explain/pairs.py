"""The service's view of explanations: a response's (movie, score) list and the user's ratings in,
one :class:`~recsys.explain.template.Explanation` per movie out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from recsys.explain.context import ExplanationContext, context_for_new_user
from recsys.explain.template import Explainer, Explanation


class Catalogue(Protocol):
    """What :class:`PairExplainer` reads from a serving bundle."""

    items: pd.DataFrame
    item_vectors: np.ndarray
    history: pd.DataFrame
    tags: Mapping[int, Sequence[str]]


class PairExplainer:
    """``(ratings [(item_idx, rating)] oldest first, [(item_idx, score)], tier) -> [Explanation]``.

    The same call serves known users (their history by time) and onboarding profiles (in the order
    rated).

    Args:
        catalogue: a serving bundle (``items``, ``item_vectors`` (n_items, D), ``history``, ``tags``).
        explainer: writes the texts (template or LLM).
        n_nearest, n_top_genres, n_recent: see :func:`recsys.explain.context.build_context`.
    """

    def __init__(self, catalogue: Catalogue, explainer: Explainer, n_nearest: int = 3, n_top_genres: int = 3, n_recent: int = 3) -> None:
        if catalogue.history.empty:
            raise ValueError("the bundle's history is empty: the population mean needs ratings")
        self.explainer = explainer
        self._shared = {
            "items": catalogue.items,
            "item_vectors": catalogue.item_vectors,
            "population_mean": float(catalogue.history["rating"].mean()),
            "tags": catalogue.tags,
            "n_nearest": n_nearest,
            "n_top_genres": n_top_genres,
            "n_recent": n_recent,
        }

    def __call__(self, ratings: Sequence[tuple[int, float]], scored: Sequence[tuple[int, float]], tier: str) -> list[Explanation]:
        return self.explainer.explain_many(self.contexts(ratings, scored, tier))

    def close(self) -> None:
        """Release the explainer's resources (an LLM explainer's thread pool), if it holds any."""
        close = getattr(self.explainer, "close", None)
        if close is not None:
            close()

    def contexts(self, ratings: Sequence[tuple[int, float]], scored: Sequence[tuple[int, float]], tier: str) -> list[ExplanationContext]:
        """The facts of each (item_idx, score) for a user with ``ratings``."""
        return [context_for_new_user(item, ratings, score=score, tier=tier, **self._shared) for item, score in scored]
