"""The facts of one explanation: what may be said about recommending a movie to a user.

:func:`build_context` gathers them into an :class:`ExplanationContext`: the user's favourite
genres, recent highly rated movies, average rating and rating style; the movie's title, year,
genres and tags (where the data set has them); the user's highly rated movies nearest to it in the
model's item space, the genres they share, and the recommender's score and tier. Explainers
(:mod:`recsys.explain.template`, :mod:`recsys.explain.llm`) put a context into words and may say
nothing that is not in it (:mod:`recsys.explain.grounding` checks LLM answers against it).

Rating style compares the user's mean rating with the population's: ``generous`` when it is at
least ``STYLE_MARGIN`` (0.3 stars, about 0.6 standard deviations of the user means of
ml-latest-small) above, ``harsh`` when at least that much below, ``balanced`` otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

LIKED = 4.0  # a rating >= LIKED counts as "highly rated"
LOVED = 4.5  # named movies all rated >= LOVED are "loved", else "enjoyed"
STYLE_MARGIN = 0.3  # stars from the population mean to count as generous / harsh
Style = Literal["generous", "harsh", "balanced"]
_ARTICLE = re.compile(r"^(?P<head>.+?), (?P<article>The|A|An|Les|La|Le|L'|Il|El|Das|Der|Die)(?P<tail> \(.*\))?$")


def display_title(title: str) -> str:
    """MovieLens ``"Rock, The"`` as ``"The Rock"`` (also before an alternative title in brackets)."""
    match = _ARTICLE.match(title)
    if not match:
        return title
    article = match["article"]
    space = "" if article.endswith("'") else " "  # "L'Avventura"
    return f"{article}{space}{match['head']}{match['tail'] or ''}"


def movie_label(title: str, year: float | int | None) -> str:
    """How text names a movie: ``"The Rock (1996)"``, or the title alone when the year is unknown."""
    known = year is not None and not pd.isna(year)
    return f"{display_title(title)} ({int(year)})" if known else display_title(title)


def join_words(words: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"`` (``""`` for none)."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def rating_style(user_mean: float | None, population_mean: float, margin: float = STYLE_MARGIN) -> Style:
    """``generous`` / ``harsh`` when ``user_mean`` is >= ``margin`` above / below ``population_mean``;
    ``balanced`` otherwise (and for a user without ratings, ``user_mean=None``)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if user_mean is None:
        return "balanced"
    if user_mean >= population_mean + margin:
        return "generous"
    if user_mean <= population_mean - margin:
        return "harsh"
    return "balanced"


@dataclass(frozen=True)
class RatedMovie:
    """A movie the user rated, as the context names it: ``label`` ("Heat (1995)"), their
    ``rating`` and the ``similarity`` (inner product of item vectors) to the recommended movie."""

    item_idx: int
    label: str
    rating: float
    similarity: float


@dataclass(frozen=True)
class ExplanationContext:
    """Everything an explainer may say about recommending one movie to one user.

    Attributes:
        item_idx, title, year, genres, label: the recommended movie (``title`` with its article
            in front, ``year`` None when unknown, ``genres`` possibly empty, ``label`` "Title (year)").
        tags: the movie's most frequent tags in the data set, most first (empty where it has none).
        user_top_genres: the user's most frequent genres, most first, ties alphabetical (empty
            without ratings).
        top_genres_basis: ``"liked"`` when counted over the user's ratings >= 4, ``"rated"`` when
            they have none and all their ratings were used, None without ratings.
        user_mean_rating: the mean of the user's ratings (None without ratings).
        rating_style: ``generous`` | ``harsh`` | ``balanced`` (see the module docstring).
        recent_liked: labels of the user's latest ratings >= 4 (up to ``n_recent``), latest first.
        nearest_liked: up to ``n_nearest`` of the user's ratings >= 4, most similar first.
        shared_genres: the movie's genres among ``user_top_genres``, in the user's order.
        score, tier: the recommender's score and tier, for explainers that hedge by confidence;
            never to be quoted.
        profile: a fingerprint of the user's ratings (for caches: equal ratings, equal profile).
    """

    item_idx: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    label: str
    tags: tuple[str, ...]
    user_top_genres: tuple[str, ...]
    top_genres_basis: Literal["liked", "rated"] | None
    user_mean_rating: float | None
    rating_style: Style
    recent_liked: tuple[str, ...]
    nearest_liked: tuple[RatedMovie, ...]
    shared_genres: tuple[str, ...]
    score: float
    tier: str
    profile: str = ""

    def labels(self) -> tuple[str, ...]:
        """Every movie the context names: the recommended one, the nearest liked, the recent liked."""
        return tuple(dict.fromkeys((self.label, *(m.label for m in self.nearest_liked), *self.recent_liked)))

    def genres_named(self) -> tuple[str, ...]:
        """Every genre the context names: the movie's and the user's favourites."""
        return tuple(dict.fromkeys((*self.genres, *self.user_top_genres)))


def nearest_rated(
    item_vectors: np.ndarray, targets: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each target, the ``k`` candidates with the largest inner product (ties: lower item_idx).

    Args:
        item_vectors: (n_items, D) retrieval vectors.
        targets: (T,) item_idx of the movies to explain.
        candidates: (L,) item_idx to choose from (the user's liked movies); a target never
            matches itself.
        k: how many to return per target (>= 1).

    Returns:
        ``(ids, sims)``, both (T, min(k, L)): item_idx best first and their inner products;
        ``-1`` / ``-inf`` pad a row whose target is among the candidates when no other is left.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    candidates = np.unique(np.asarray(candidates, dtype=np.int64))  # sorted: stable ties go to lower idx
    sims = item_vectors[targets].astype(np.float64) @ item_vectors[candidates].astype(np.float64).T  # (T, L)
    sims = np.where(targets[:, None] == candidates[None, :], -np.inf, sims)
    k_eff = min(k, len(candidates))
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]
    top_sims = np.take_along_axis(sims, order, axis=1)
    return np.where(np.isfinite(top_sims), candidates[order], -1), top_sims


def build_context(
    item_idx: int,
    rated_items: Sequence[int] | np.ndarray,
    ratings: Sequence[float] | np.ndarray,
    *,
    items: pd.DataFrame,
    item_vectors: np.ndarray,
    population_mean: float,
    score: float,
    tier: str,
    tags: Mapping[int, Sequence[str]] | None = None,
    n_nearest: int = 3,
    n_top_genres: int = 3,
    n_recent: int = 3,
) -> ExplanationContext:
    """The facts for explaining ``item_idx`` to a user who gave ``ratings`` to ``rated_items``.

    Args:
        item_idx: the recommended movie.
        rated_items, ratings: (R,) the user's history in the order it was rated (R may be 0;
            the last entries are the most recent); ratings in 0.5..5.
        items: catalogue indexed by item_idx with ``title``, ``year`` and ``genres``.
        item_vectors: (n_items, D) retrieval vectors (score = inner product).
        population_mean: the mean rating of all users, for the rating style.
        score, tier: the recommender's score and tier for this movie.
        tags: item_idx -> the movie's tags, most frequent first (None or a missing item: no tags).
        n_nearest: how many liked movies to name at most (>= 1).
        n_top_genres: how many of the user's genres to keep (>= 1).
        n_recent: how many recent liked movies to name at most (>= 1).
    """
    rated = np.asarray(rated_items, dtype=np.int64).reshape(-1)
    values = np.asarray(ratings, dtype=np.float64).reshape(-1)
    _check_inputs(item_idx, rated, values, items, item_vectors, tier, n_nearest, n_top_genres, n_recent)
    liked = rated[values >= LIKED]
    basis_items, basis = (liked, "liked") if len(liked) else (rated, "rated") if len(rated) else (rated, None)
    counts = Counter(g for gs in items["genres"].loc[basis_items] for g in gs)
    top_genres = tuple(g for g, _ in sorted(counts.items(), key=lambda gc: (-gc[1], gc[0]))[:n_top_genres])
    nearest: tuple[RatedMovie, ...] = ()
    if len(liked):
        ids, sims = nearest_rated(item_vectors, np.array([item_idx]), liked, n_nearest)
        named = [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0]
        nearest = tuple(
            RatedMovie(i, movie_label(items.at[i, "title"], items.at[i, "year"]), float(values[rated == i].max()), s)
            for i, s in named
        )
    recent: list[str] = []
    for i in rated[values >= LIKED][::-1]:  # latest first; a movie rated twice is named once
        label = movie_label(items.at[int(i), "title"], items.at[int(i), "year"])
        if int(i) != int(item_idx) and label not in recent:
            recent.append(label)
        if len(recent) == n_recent:
            break
    year = items.at[item_idx, "year"]
    genres = tuple(items.at[item_idx, "genres"])
    user_mean = float(values.mean()) if len(values) else None
    return ExplanationContext(
        item_idx=int(item_idx),
        title=display_title(items.at[item_idx, "title"]),
        year=None if year is None or pd.isna(year) else int(year),
        genres=genres,
        label=movie_label(items.at[item_idx, "title"], year),
        tags=tuple((tags or {}).get(int(item_idx), ())),
        user_top_genres=top_genres,
        top_genres_basis=basis,
        user_mean_rating=user_mean,
        rating_style=rating_style(user_mean, population_mean),
        recent_liked=tuple(recent),
        nearest_liked=nearest,
        shared_genres=tuple(g for g in top_genres if g in genres),
        score=float(score),
        tier=tier,
        profile=profile_fingerprint(rated, values),
    )


def profile_fingerprint(rated_items: np.ndarray, ratings: np.ndarray) -> str:
    """16 hex digits identifying a rating history (items, ratings and their order)."""
    digest = hashlib.sha256(np.asarray(rated_items, dtype=np.int64).tobytes())
    digest.update(np.asarray(ratings, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def context_for_new_user(
    item_idx: int, onboarding: Sequence[tuple[int, float]], **kwargs: object
) -> ExplanationContext:
    """:func:`build_context` for a user known only by onboarding ratings ``[(item_idx, rating), ...]``
    (may be empty); ``kwargs`` are those of :func:`build_context` after the history."""
    pairs = list(onboarding)
    if any(len(p) != 2 for p in pairs):
        raise ValueError("onboarding must be a list of (item_idx, rating) pairs")
    rated = np.array([p[0] for p in pairs], dtype=np.int64)
    values = np.array([p[1] for p in pairs], dtype=np.float64)
    return build_context(item_idx, rated, values, **kwargs)  # type: ignore[arg-type]


def _check_inputs(
    item_idx: int,
    rated: np.ndarray,
    values: np.ndarray,
    items: pd.DataFrame,
    item_vectors: np.ndarray,
    tier: str,
    n_nearest: int,
    n_top_genres: int,
    n_recent: int,
) -> None:
    """Raise ValueError on inputs :func:`build_context` cannot use."""
    if item_vectors.ndim != 2:
        raise ValueError(f"item_vectors must be (n_items, D), got shape {item_vectors.shape}")
    if rated.shape != values.shape:
        raise ValueError(f"rated_items {rated.shape} and ratings {values.shape} must have the same length")
    if not np.all((values >= 0.5) & (values <= 5.0)):
        raise ValueError("ratings must lie in 0.5..5")
    everything = np.append(rated, item_idx)
    if np.any(everything < 0) or np.any(everything >= item_vectors.shape[0]):
        raise ValueError(f"item_idx out of range for item_vectors with {item_vectors.shape[0]} rows")
    if not np.isin(everything, items.index.to_numpy()).all():
        raise ValueError("item_idx not in items")
    if not tier:
        raise ValueError("tier must be a non-empty string")
    if min(n_nearest, n_top_genres, n_recent) < 1:
        raise ValueError(f"n_nearest, n_top_genres and n_recent must be >= 1, got {n_nearest}, {n_top_genres}, {n_recent}")
