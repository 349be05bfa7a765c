"""Onboarding: the movies a new user is asked to rate first.

A good first screen shows movies the user has probably seen (popular ones), that span many genres
and several eras, so that a handful of ratings says as much as possible about their taste. Each
session gets its own draw: a different seed gives a different but equally spread set, the same
seed the same set (a page reload does not reshuffle).

The choice is a randomised greedy max-coverage over a pool of the most-rated catalogue movies.
At each step every remaining candidate gets a gain

    sum over its genres g of 1 / (1 + picked_g)  +  era_weight / (1 + picked_decade)

(an uncovered genre is worth 1, a genre already shown once 1/2, twice 1/3...; a decade not yet
shown is worth ``era_weight``), and the next pick is drawn with probability proportional to
``exp(gain / temperature)`` (the Gumbel-max trick): a low temperature is plain greedy coverage, a
higher one varies the set more from session to session at a small cost in spread.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("genres", "year", "popularity")


class OnboardingPicker:
    """Picks ``n`` popular movies spread over genres and decades for a new user to rate.

    Args:
        items: catalogue DataFrame indexed by ``item_idx`` with columns ``genres`` (list of str),
            ``year`` (float, NaN when unknown) and ``popularity`` (training ratings; 0 = not in
            the catalogue).
        n: how many movies to show (1 <= n <= pool).
        pool: draw from the ``pool`` most-rated catalogue movies (ties: lower ``item_idx``), or
            from the whole catalogue when it is smaller.
        era_weight: gain of a decade not yet shown, in units of an uncovered genre (>= 0).
        temperature: randomness of each greedy step (> 0); see the module docstring.

    Raises:
        ValueError: a missing column, a bad setting, or fewer than ``n`` catalogue movies.
    """

    def __init__(
        self,
        items: pd.DataFrame,
        n: int = 15,
        pool: int = 150,
        era_weight: float = 1.0,
        temperature: float = 0.3,
    ) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in items.columns]
        if missing:
            raise ValueError(f"items lacks column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
        _check_int("n", n, minimum=1)
        _check_int("pool", pool, minimum=1)
        if n > pool:
            raise ValueError(f"n ({n}) must be <= pool ({pool}): the picks come from the pool")
        if not era_weight >= 0:
            raise ValueError(f"era_weight must be >= 0, got {era_weight}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        catalogue = items[items["popularity"] > 0]
        if len(catalogue) < n:
            raise ValueError(f"n ({n}) exceeds the {len(catalogue)} catalogue movies (popularity > 0)")
        ranked = catalogue.assign(_idx=catalogue.index.to_numpy()).sort_values(
            ["popularity", "_idx"], ascending=[False, True]
        )
        top = ranked.head(pool)
        self.n, self.era_weight, self.temperature = n, float(era_weight), float(temperature)
        self.pool: np.ndarray = top.index.to_numpy(dtype=np.int64)
        """(pool,) item_idx of the pool, most rated first."""
        self.genres: list[frozenset[str]] = [frozenset(g) for g in top["genres"]]
        years = top["year"].to_numpy(dtype=float)
        self.decades: list[int | None] = [None if np.isnan(y) else int(y // 10 * 10) for y in years]
        # one-hot matrices, so that a greedy step's gains are two matrix-vector products
        genre_names = sorted({g for gs in self.genres for g in gs})
        decade_names = sorted({d for d in self.decades if d is not None})
        self._genre_matrix = np.array([[g in gs for g in genre_names] for gs in self.genres], dtype=np.float64).reshape(len(self.pool), -1)
        self._decade_matrix = np.array([[d == e for e in decade_names] for d in self.decades], dtype=np.float64).reshape(len(self.pool), -1)

    def pick(self, session_seed: int | str) -> list[int]:
        """The movies to show in one session, in display order.

        Args:
            session_seed: identifies the session (an int or a session id string); the same seed
                always gives the same list, in any process.

        Returns:
            ``n`` distinct item_idx from the popular pool, shuffled.
        """
        rng = np.random.default_rng(seed_from(session_seed))
        genre_counts = np.zeros(self._genre_matrix.shape[1])
        decade_counts = np.zeros(self._decade_matrix.shape[1])
        available = np.ones(len(self.pool), dtype=bool)
        picked: list[int] = []
        for _ in range(self.n):
            gains = self._gains(genre_counts, decade_counts)
            noisy = np.where(available, gains / self.temperature + rng.gumbel(size=len(gains)), -np.inf)
            best = int(np.argmax(noisy))
            available[best] = False
            picked.append(best)
            genre_counts += self._genre_matrix[best]
            decade_counts += self._decade_matrix[best]
        order = rng.permutation(len(picked))
        return [int(self.pool[picked[i]]) for i in order]

    def _gains(self, genre_counts: np.ndarray, decade_counts: np.ndarray) -> np.ndarray:
        """(pool,) diminishing-returns gain of adding each pool movie to the current picks: each of
        its genres is worth ``1 / (1 + times shown)``, its decade ``era_weight / (1 + times shown)``."""
        return self._genre_matrix @ (1.0 / (1.0 + genre_counts)) + self.era_weight * (self._decade_matrix @ (1.0 / (1.0 + decade_counts)))


def seed_from(session_seed: int | str) -> int:
    """A stable 64-bit seed from a session seed (``hash()`` of a str changes between processes).

    Raises:
        TypeError: ``session_seed`` is neither an int nor a str.
    """
    if isinstance(session_seed, bool) or not isinstance(session_seed, (int, str)):
        raise TypeError(f"session_seed must be an int or a str, got {type(session_seed).__name__}")
    digest = hashlib.sha256(f"{type(session_seed).__name__}:{session_seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
