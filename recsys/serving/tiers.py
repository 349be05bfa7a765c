"""Tiers of service: popular movies for a profile with no ratings, a blend while it is thin,
fully personal once it has enough ratings.

* ``personal``: the model's score ``u . v_i`` (one index search, the watched items excluded in
  the index), so a known user is ranked exactly as offline evaluation ranks them;
* ``popular``: the most-rated catalogue items (the same exclusions and filters, as a mask);
* ``blend``: ``w * (u . v_i) + (1 - w) * popularity_weight * p_i`` with the popularity coordinate
  ``p_i = log(1 + ratings_i) / log(1 + max ratings)`` in [0, 1], re-scored over the union of the
  personal and the popular candidates (two-stage retrieval; both stages exclude in the index).

The popularity coordinate is not put into the index: a (D + 1)-d ``[v_i, p_i]`` HNSW graph is
built around popularity that personal queries ignore, and recall@10 of personal queries fell to
0.88 at ef 128 on the bundled data (1.0 without it). Which tier serves a profile of ``n`` ratings
is :class:`TierPolicy`'s choice, with thresholds measured on held-out users
(``experiments/cold_start.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POPULAR, BLEND, PERSONAL = "popular", "blend", "personal"


def popularity_coordinate(popularity: np.ndarray) -> np.ndarray:
    """``log(1 + count) / log(1 + max count)``, shape (n_items,), in [0, 1]."""
    counts = np.asarray(popularity, dtype=np.float64)
    top = np.log1p(counts.max()) if counts.size and counts.max() > 0 else 1.0
    return (np.log1p(counts) / top).astype(np.float32)


@dataclass(frozen=True)
class TierPolicy:
    """Which tier serves a profile with ``n`` ratings, and how the blend mixes.

    Args:
        blend_from: the fewest ratings served by the blend (fewer: popular).
        personal_from: the fewest ratings served fully personally.
        popularity_weight: scale of the popularity coordinate in the blend.
        candidates: how many candidates each stage of the blend retrieves (at least k).
    """

    blend_from: int = 1
    personal_from: int = 10
    popularity_weight: float = 1.0
    candidates: int = 200

    def __post_init__(self) -> None:
        if self.blend_from < 1 or self.personal_from < self.blend_from:
            raise ValueError(
                f"tiers: need 1 <= blend_from ({self.blend_from}) <= personal_from ({self.personal_from}); "
                "set tiers.blend_from / tiers.personal_from"
            )
        if self.popularity_weight < 0 or self.candidates < 1:
            raise ValueError(f"tiers: popularity_weight ({self.popularity_weight}) >= 0 and candidates ({self.candidates}) >= 1 required")

    def tier(self, n_ratings: int) -> str:
        if n_ratings < self.blend_from:
            return POPULAR
        return PERSONAL if n_ratings >= self.personal_from else BLEND

    def weight(self, n_ratings: int) -> float:
        """The personal weight ``w`` of a profile: 0 (popular), rising linearly through the blend, 1."""
        tier = self.tier(n_ratings)
        if tier == POPULAR:
            return 0.0
        if tier == PERSONAL:
            return 1.0
        return float(n_ratings) / float(self.personal_from)
