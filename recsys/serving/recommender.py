"""The recommendation logic of the service, free of BentoML: known users, similar movies,
onboarding profiles and their tiers, all through one retriever and one cache.

Ids at this boundary are the data set's own (``userId``, ``movieId``); indices stay inside.
Every error a caller can cause is a :class:`ServingError` whose message says what to send instead.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.retrieval.base import Retriever, SearchFilters
from recsys.serving.bundle import ITEM_ITEM, ServingBundle
from recsys.serving.cache import Cache, cache_key
from recsys.explain.context import display_title
from recsys.explain.template import is_transient
from recsys.serving.foldin import FoldIn
from recsys.retrieval.base import SearchResult
from recsys.serving.tiers import BLEND, PERSONAL, POPULAR, TierPolicy, popularity_coordinate

MAX_K = 100


class ServingError(Exception):
    """A request the service cannot answer; ``status`` is its HTTP status."""

    status = 400


class NotFoundError(ServingError):
    status = 404


@dataclass(frozen=True)
class Limits:
    """Request limits (checked before any work).

    Args:
        max_k: the most recommendations one request may ask for.
        max_ratings_per_request: the most ratings one request may carry.
        max_profile_ratings: the most ratings a profile may hold.
        profile_ttl: seconds an onboarding profile lives after its last change.
        result_ttl: seconds a cached recommendation list lives.
    """

    max_k: int = MAX_K
    max_ratings_per_request: int = 200
    max_profile_ratings: int = 500
    profile_ttl: float = 3600.0
    result_ttl: float = 600.0

    def __post_init__(self) -> None:
        for name in ("max_k", "max_ratings_per_request", "max_profile_ratings"):
            if getattr(self, name) < 1:
                raise ValueError(f"serve.limits.{name} ({getattr(self, name)}) must be >= 1")
        if self.profile_ttl <= 0 or self.result_ttl <= 0:
            raise ValueError("serve.limits.profile_ttl and result_ttl must be > 0 seconds")


@dataclass
class Recommendation:
    movie_id: int
    title: str
    genres: list[str]
    year: int | None
    score: float
    explanation: str | None = None
    explanation_source: str | None = None
    explanation_fallback: str | None = None


@dataclass
class Recommendations:
    items: list[Recommendation]
    tier: str
    model_version: str
    n_ratings: int | None = None
    profile_id: str | None = None
    ratings_until_personal: int | None = None
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["items"] = [dict(vars(item)) for item in self.items]
        return out


class Recommender:
    """Answers the service's requests from a :class:`ServingBundle`.

    Args:
        bundle: the packaged model.
        retriever: searches the bundle's item vectors (Edge, exact or a Qdrant server).
        cache: recommendation lists and onboarding profiles.
        tiers: which tier serves a profile of n ratings.
        fold_in: embeds a profile's ratings (embedding bundles; see :meth:`profile_vector`).
        limits: request limits.
        explainer: ``(user_ratings: list[(item_idx, rating)] oldest first, [(item_idx, score)], tier) ->
            [Explanation]`` (:class:`recsys.explain.pairs.PairExplainer`); None: no explanations.
        monitor: the LLM explanation monitor (:class:`recsys.explain.monitor.ExplanationMonitor`), if any.
        onboarding: ``(session_seed) -> list[item_idx]`` movies for a new user to rate.
    """

    def __init__(
        self,
        bundle: ServingBundle,
        retriever: Retriever,
        cache: Cache,
        tiers: TierPolicy | None = None,
        fold_in: FoldIn | None = None,
        limits: Limits | None = None,
        explainer: Any = None,
        onboarding: Any = None,
        monitor: Any = None,
    ) -> None:
        if retriever.dim != bundle.dim:
            raise ValueError(f"the retriever holds {retriever.dim}-d vectors, the bundle's item vectors are {bundle.dim}-d")
        self.bundle = bundle
        self.retriever = retriever
        self.cache = cache
        self.tiers = tiers or TierPolicy()
        self.fold_in = fold_in or FoldIn(temperature=float(bundle.manifest.get("temperature", 0.1)))
        self.limits = limits or Limits()
        self.explainer = explainer
        self.monitor = monitor
        self.onboarding_picker = onboarding
        self.catalog = bundle.catalog
        self.catalog_position = {int(i): p for p, i in enumerate(self.catalog)}
        self.catalog_vectors = np.ascontiguousarray(bundle.item_vectors[self.catalog])
        self.payload = bundle.payload()
        self.genres = sorted({g for genres in self.payload.genres for g in genres})
        items = bundle.items
        years = items["year"].to_numpy(dtype=float)
        # per-item metadata as plain Python values: a response reads 10-100 of them
        self._meta = {
            int(i): (int(m), display_title(str(t)), [str(g) for g in gs], None if y != y else int(y))
            for i, m, t, gs, y in zip(items.index, items["movieId"], items["title"], items["genres"], years)
        }
        popularity = bundle.items.loc[self.catalog, "popularity"].to_numpy()
        self.popularity_coordinate = popularity_coordinate(popularity)  # (C,), catalogue order
        self.popular_order = np.lexsort((self.catalog, -popularity))  # most rated first, ties: lower index
        history = bundle.history.sort_values(["user_idx", "timestamp"])
        self._history_items = dict(tuple(history.groupby("user_idx")["item_idx"]))
        self._history_ratings = dict(tuple(history.groupby("user_idx")["rating"]))
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.bundle.version

    # ---- validation -------------------------------------------------------------------------
    def check_k(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.limits.max_k:
            raise ServingError(f"k={k!r} is not allowed: ask for 1 to {self.limits.max_k} recommendations")
        return int(k)

    def user_index(self, user_id: int) -> int:
        index = self.bundle.user_by_id.get(int(user_id))
        if index is None:
            raise NotFoundError(
                f"unknown user_id {user_id}: known users have ids in the data set "
                f"(e.g. {min(self.bundle.user_by_id)}..{max(self.bundle.user_by_id)}); new users start with /onboarding"
            )
        return index

    def item_index(self, movie_id: int, must_be_in_catalog: bool = True) -> int:
        index = self.bundle.item_by_movie.get(int(movie_id))
        if index is None:
            raise NotFoundError(f"unknown movie_id {movie_id}: use a movieId of the data set (see /onboarding or /recommend results)")
        if must_be_in_catalog and index not in self.catalog_position:
            raise NotFoundError(f"movie_id {movie_id} has no ratings in the training data, so the model has no vector for it")
        return index

    def check_ratings(self, ratings: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
        """Validate (movie_id, rating) pairs; returns (item_idx, rating) pairs, the last rating of a movie winning."""
        if len(ratings) > self.limits.max_ratings_per_request:
            raise ServingError(
                f"{len(ratings)} ratings in one request: send at most {self.limits.max_ratings_per_request} per request"
            )
        out: dict[int, float] = {}
        for movie_id, rating in ratings:
            rating = float(rating)
            if not (0.5 <= rating <= 5.0) or abs(rating * 2 - round(rating * 2)) > 1e-9:
                raise ServingError(
                    f"rating {rating} for movie_id {movie_id} is not allowed: use 0.5 to 5.0 in steps of 0.5"
                )
            out[self.item_index(movie_id)] = rating
        return list(out.items())

    def check_filters(self, filters: SearchFilters | None) -> SearchFilters | None:
        if filters is not None and filters.genres is not None:
            unknown = sorted(set(filters.genres) - set(self.genres))
            if unknown:
                raise ServingError(f"unknown genres {unknown}: use any of {self.genres}")
        return filters

    # ---- known users -----------------------------------------------------------------------------
    def for_user(self, user_id: int, k: int = 10, filters: SearchFilters | None = None, explain: bool = False) -> Recommendations:
        """Top-k for a user of the data set: their trained vector, everything they rated excluded."""
        k = self.check_k(k)
        filters = self.check_filters(filters)
        user = self.user_index(user_id)
        key = cache_key("user", self.version, user_id, k, _filters_key(filters), int(explain))
        hit = self._cached(key)
        if hit is not None:
            return hit
        watched = self._history_items.get(user, np.empty(0, dtype=np.int64))
        result = self._search(self.bundle.user_vectors[user], k, watched, filters)
        ratings = list(zip(watched.tolist(), self._history_ratings.get(user, np.empty(0)).tolist()))
        out = Recommendations(
            items=self._items(result, ratings if explain else None, PERSONAL), tier=PERSONAL, model_version=self.version, n_ratings=len(watched)
        )
        if not any(is_transient(item.explanation_fallback) for item in out.items):  # a slow LLM may answer next time
            self.cache.set(key, _cacheable(out), ttl=self.limits.result_ttl)
        return out

    # ---- similar movies --------------------------------------------------------------------------
    def similar(self, movie_id: int, k: int = 10, filters: SearchFilters | None = None) -> Recommendations:
        """Movies nearest to a movie in the model's space (the movie itself excluded)."""
        k = self.check_k(k)
        filters = self.check_filters(filters)
        item = self.item_index(movie_id)
        key = cache_key("similar", self.version, movie_id, k, _filters_key(filters))
        hit = self._cached(key)
        if hit is not None:
            return hit
        result = self._search(self.bundle.item_vectors[item], k, np.array([item]), filters)
        out = Recommendations(items=self._items(result, None, "similar"), tier="similar", model_version=self.version)
        self.cache.set(key, _cacheable(out), ttl=self.limits.result_ttl)
        return out

    # ---- onboarding profiles -----------------------------------------------------------------
    def onboarding(self, session: str | None = None) -> tuple[str, list[Recommendation]]:
        """Movies for a new user to rate, shuffled per session; returns (session, movies)."""
        if self.onboarding_picker is None:
            raise ServingError("onboarding is not configured for this model")
        session = session or secrets.token_hex(8)
        items = self.onboarding_picker(session)
        movies = [self._movie(int(i), 0.0) for i in items]
        return session, movies

    def create_profile(
        self, ratings: Sequence[tuple[int, float]], k: int = 10, filters: SearchFilters | None = None, explain: bool = False
    ) -> Recommendations:
        """A temporary profile from onboarding ratings (any number, even none) and its recommendations."""
        k = self.check_k(k)
        filters = self.check_filters(filters)
        pairs = self.check_ratings(ratings)
        profile_id = secrets.token_urlsafe(16)
        self._save_profile(profile_id, pairs)
        return self._profile_recommendations(profile_id, pairs, k, filters, explain)

    def add_ratings(
        self, profile_id: str, ratings: Sequence[tuple[int, float]], k: int = 10, filters: SearchFilters | None = None, explain: bool = False
    ) -> Recommendations:
        """Add ratings to a profile (a movie rated again takes the new rating) and recommend again."""
        k = self.check_k(k)
        filters = self.check_filters(filters)
        new = self.check_ratings(ratings)
        with self._lock:
            merged = dict(self._load_profile(profile_id))
            merged.update(new)
            if len(merged) > self.limits.max_profile_ratings:
                raise ServingError(
                    f"the profile would hold {len(merged)} ratings: at most {self.limits.max_profile_ratings}; start a new profile"
                )
            pairs = list(merged.items())
            self._save_profile(profile_id, pairs)
        return self._profile_recommendations(profile_id, pairs, k, filters, explain)

    def for_profile(self, profile_id: str, k: int = 10, filters: SearchFilters | None = None, explain: bool = False) -> Recommendations:
        k = self.check_k(k)
        filters = self.check_filters(filters)
        return self._profile_recommendations(profile_id, self._load_profile(profile_id), k, filters, explain)

    def profile_vector(self, pairs: Sequence[tuple[int, float]]) -> np.ndarray:
        """The vector (D,) of a profile's (item_idx, rating) pairs of catalogue items.

        An item-item bundle (EASE) needs no fitting: the vector is the profile's interaction row,
        built as the model's training rows were. A history-tower run's trained tower embeds the
        ratings directly. Any other embedding bundle's vector is folded in.
        """
        ratings = np.array([r for _, r in pairs], dtype=np.float32)
        if self.bundle.kind == ITEM_ITEM:
            return self.bundle.interaction_row(np.array([i for i, _ in pairs], dtype=np.int64), ratings)
        if self.bundle.history_tower is not None:
            return self.bundle.embed_history(np.array([i for i, _ in pairs], dtype=np.int64), ratings)
        positions = np.array([self.catalog_position[i] for i, _ in pairs], dtype=np.int64)
        return self.fold_in(self.catalog_vectors, positions, ratings)

    def profile_search(self, pairs: Sequence[tuple[int, float]], k: int, filters: SearchFilters | None = None) -> tuple[SearchResult, str]:
        """The top-k of a profile ((item_idx, rating) pairs), its rated items excluded, and its tier."""
        n = len(pairs)
        tier = self.tiers.tier(n)
        watched = np.array([i for i, _ in pairs], dtype=np.int64)
        if tier == POPULAR:
            return self._popular(k, watched, filters), tier
        vector = self.profile_vector(pairs)
        if tier == PERSONAL:
            return self._search(vector, k, watched, filters), tier
        return self._blend(vector, self.tiers.weight(n), k, watched, filters), BLEND

    def _profile_recommendations(
        self, profile_id: str, pairs: list[tuple[int, float]], k: int, filters: SearchFilters | None, explain: bool
    ) -> Recommendations:
        result, tier = self.profile_search(pairs, k, filters)
        return Recommendations(
            items=self._items(result, pairs if explain else None, tier),
            tier=tier,
            model_version=self.version,
            n_ratings=len(pairs),
            profile_id=profile_id,
            ratings_until_personal=max(0, self.tiers.personal_from - len(pairs)),
        )

    def _popular(self, k: int, exclude: np.ndarray, filters: SearchFilters | None) -> SearchResult:
        """The k most-rated catalogue items that pass ``filters``, ``exclude`` left out (a mask)."""
        allowed = self.payload.mask(filters)
        for item in exclude.tolist():
            position = self.catalog_position.get(int(item))
            if position is not None:
                allowed[position] = False
        order = self.popular_order[allowed[self.popular_order]][:k]
        ids = np.full((1, k), -1, dtype=np.int64)
        scores = np.full((1, k), -np.inf, dtype=np.float32)
        ids[0, : len(order)] = self.catalog[order]
        scores[0, : len(order)] = self.popularity_coordinate[order]
        return SearchResult(ids=ids, scores=scores)

    def _blend(self, vector: np.ndarray, weight: float, k: int, exclude: np.ndarray, filters: SearchFilters | None) -> SearchResult:
        """Two-stage blend: personal and popular candidates, re-scored by the blended score."""
        n = max(k, self.tiers.candidates)
        personal = self._search(vector, n, exclude, filters).ids[0]
        popular = self._popular(n, exclude, filters).ids[0]
        candidates = np.unique(np.concatenate([personal[personal >= 0], popular[popular >= 0]]))
        positions = np.array([self.catalog_position[int(i)] for i in candidates], dtype=np.int64)
        scores = weight * (self.catalog_vectors[positions] @ vector) + (
            1.0 - weight
        ) * self.tiers.popularity_weight * self.popularity_coordinate[positions]
        order = np.lexsort((candidates, -scores))[:k]
        ids = np.full((1, k), -1, dtype=np.int64)
        out = np.full((1, k), -np.inf, dtype=np.float32)
        ids[0, : len(order)] = candidates[order]
        out[0, : len(order)] = scores[order]
        return SearchResult(ids=ids, scores=out)

    def _save_profile(self, profile_id: str, pairs: list[tuple[int, float]]) -> None:
        movie_ratings = [[int(self.bundle.items.at[i, "movieId"]), float(r)] for i, r in pairs]
        # profiles hold movieIds, not model indices: they survive a re-index to another model
        self.cache.set(cache_key("profile", "any", profile_id), {"ratings": movie_ratings}, ttl=self.limits.profile_ttl)

    def _load_profile(self, profile_id: str) -> list[tuple[int, float]]:
        stored = self.cache.get(cache_key("profile", "any", str(profile_id)))
        if stored is None:
            raise NotFoundError(
                f"unknown or expired profile_id {profile_id!r}: profiles expire {self.limits.profile_ttl:.0f} s after their "
                "last change; create a new one with /profile"
            )
        pairs = []
        for movie_id, rating in stored["ratings"]:
            item = self.bundle.item_by_movie.get(int(movie_id))
            if item is not None and item in self.catalog_position:
                pairs.append((item, float(rating)))
        return pairs

    # ---- shared -------------------------------------------------------------------------------
    def _cached(self, key: str) -> Recommendations | None:
        """The cached list under ``key`` (marked ``cached``), or None."""
        hit = self.cache.get(key)
        if hit is None:
            return None
        return Recommendations(**{**hit, "items": [Recommendation(**r) for r in hit["items"]], "cached": True})

    def _search(self, query: np.ndarray, k: int, exclude: np.ndarray, filters: SearchFilters | None):
        return self.retriever.search(query[None, :], k, [np.asarray(exclude, dtype=np.int64).tolist()], filters)

    def _movie(self, item: int, score: float) -> Recommendation:
        movie_id, title, genres, year = self._meta[item]
        return Recommendation(movie_id=movie_id, title=title, genres=list(genres), year=year, score=float(score))

    def _items(self, result: Any, ratings: list[tuple[int, float]] | None, tier: str) -> list[Recommendation]:
        scored = [(int(i), float(s)) for i, s in zip(result.ids[0].tolist(), result.scores[0].tolist()) if i >= 0]
        out = [self._movie(item, score) for item, score in scored]
        if ratings is not None and self.explainer is not None and scored:
            for rec, explanation in zip(out, self.explainer(ratings, scored, tier)):
                rec.explanation, rec.explanation_source = explanation.text, explanation.source
                rec.explanation_fallback = explanation.fallback
        return out


def _filters_key(filters: SearchFilters | None) -> str:
    if filters is None or filters.empty:
        return "-"
    return f"{','.join(sorted(filters.genres or ()))}|{filters.year_min}|{filters.year_max}"


def _cacheable(recs: Recommendations) -> dict[str, Any]:
    out = recs.to_dict()
    out.pop("cached", None)
    return out
