"""Item side of the synthetic MovieLens generator: catalogue, genres, popularity, latent factors.

Everything here is per item (tens of thousands of rows), so plain vectorised numpy suffices.
Items are indexed ``0..n_items-1`` in ascending ``movieId`` order, which lets the rating sampler
emit rows sorted by ``(userId, movieId)`` by sorting on the item index alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from recsys.synthetic.generator import SyntheticConfig

#: MovieLens-25M genre names; "(no genres listed)" is always last and never combined.
ML_GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western", "(no genres listed)",
)  # fmt: skip
#: Number of ML-25M movies carrying each genre (movies.csv, 62,423 movies), same order.
ML_GENRE_COUNTS: tuple[int, ...] = (
    7348, 4145, 2929, 2935, 16870, 5319, 5605, 25606, 2731, 353, 5989, 195, 1054, 2925, 7719,
    3595, 8654, 1874, 1399, 5062,
)  # fmt: skip
NO_GENRE = "(no genres listed)"
#: Largest movieId in ML-25M; synthetic movieIds are a sorted random sample of 1..this.
ML_MAX_MOVIE_ID = 209_171
#: A few tags per genre plus generic ones, used for ``tags.csv``.
GENERIC_TAGS: tuple[str, ...] = (
    "atmospheric", "classic", "based on a book", "visually appealing", "twist ending",
    "great soundtrack", "overrated", "predictable", "quirky", "thought-provoking",
)  # fmt: skip
GENRE_TAGS: dict[str, tuple[str, str, str]] = {
    "Action": ("action", "explosions", "fight scenes"),
    "Adventure": ("adventure", "epic", "journey"),
    "Animation": ("animation", "pixar", "stop motion"),
    "Children": ("family", "kids", "disney"),
    "Comedy": ("funny", "comedy", "hilarious"),
    "Crime": ("crime", "heist", "mafia"),
    "Documentary": ("documentary", "true story", "history"),
    "Drama": ("drama", "emotional", "character study"),
    "Fantasy": ("fantasy", "magic", "fairy tale"),
    "Film-Noir": ("noir", "black and white", "detective"),
    "Horror": ("horror", "scary", "gore"),
    "IMAX": ("imax", "spectacle", "3d"),
    "Musical": ("musical", "music", "singing"),
    "Mystery": ("mystery", "whodunit", "mindfuck"),
    "Romance": ("romance", "love story", "romantic"),
    "Sci-Fi": ("sci-fi", "space", "dystopia"),
    "Thriller": ("suspense", "thriller", "tense"),
    "War": ("war", "world war ii", "military"),
    "Western": ("western", "cowboys", "frontier"),
    NO_GENRE: ("short", "foreign", "obscure"),
}


@dataclass
class Catalog:
    """The synthetic item catalogue; every array has one row per item, in movieId order.

    Attributes:
        movie_id: ``(I,)`` int64, sorted ascending, non-contiguous.
        year: ``(I,)`` int32 release year.
        release_ts: ``(I,)`` int64 unix seconds of the release date.
        genres: ``(I, G)`` bool multi-hot.
        genre_names: the ``G`` genre names.
        log_pop: ``(I,)`` float64 log popularity weight (Zipf-like long tail).
        bias: ``(I,)`` float32 item bias (standardised score units).
        factors: ``(I, D)`` float32 latent item vectors.
        primary_genre: ``(I,)`` int64 index of the item's first genre.
    """

    movie_id: np.ndarray
    year: np.ndarray
    release_ts: np.ndarray
    genres: np.ndarray
    genre_names: tuple[str, ...]
    log_pop: np.ndarray
    bias: np.ndarray
    factors: np.ndarray
    primary_genre: np.ndarray


def genre_names(n_genres: int) -> tuple[str, ...]:
    """The first ``n_genres - 1`` MovieLens genres plus ``"(no genres listed)"``."""
    if not 2 <= n_genres <= len(ML_GENRES):
        raise ValueError(f"n_genres must be in 2..{len(ML_GENRES)}, got {n_genres}")
    return ML_GENRES[: n_genres - 1] + (NO_GENRE,)


def _sample_genres(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Multi-hot ``(I, G)`` genres: 1-3 real genres drawn by ML frequency, or "no genres" alone."""
    names = genre_names(cfg.n_genres)
    counts = np.array([ML_GENRE_COUNTS[ML_GENRES.index(n)] for n in names], dtype=np.float64)
    n_real = len(names) - 1
    p_none = counts[-1] / counts.sum()
    # Number of genres per movie; the draw is weighted by frequency over the real genres.
    k = rng.choice(np.arange(1, 4), size=cfg.n_items, p=np.asarray(cfg.genre_count_probs))
    keys = np.log(counts[:n_real]) + rng.gumbel(size=(cfg.n_items, n_real))
    order = np.argsort(-keys, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_real)[None, :], axis=1)
    multi = np.zeros((cfg.n_items, n_real + 1), dtype=bool)
    multi[:, :n_real] = rank < k[:, None]
    none = rng.random(cfg.n_items) < p_none
    multi[none] = False
    multi[none, n_real] = True
    return multi


def build_catalog(cfg: SyntheticConfig, rng: np.random.Generator) -> Catalog:
    """Draws the item catalogue (years, ids, genres, popularity, biases and latent factors)."""
    n, d = cfg.n_items, cfg.latent_dim
    end_year = 1970 + int(np.datetime64(cfg.end_timestamp, "s").astype("datetime64[Y]").astype(int))
    # Truncated exponential age: recent years most common, none before min_release_year.
    tail = 1.0 - np.exp(-(end_year - cfg.min_release_year + 1) / cfg.release_age_scale)
    age = -cfg.release_age_scale * np.log1p(-rng.random(n) * tail)
    year = np.clip(end_year - np.floor(age), cfg.min_release_year, end_year).astype(np.int32)
    year_start = (year - 1970).astype("datetime64[Y]").astype("datetime64[s]").astype(np.int64)
    release_ts = year_start + rng.integers(0, 365 * 86400, size=n)
    release_ts = np.minimum(release_ts, cfg.end_timestamp - 86400)

    # movieIds: sorted sample of 1..max, assigned so that older films tend to get lower ids.
    max_id = max(ML_MAX_MOVIE_ID, int(np.ceil(n * ML_MAX_MOVIE_ID / 59_047)))
    ids = np.sort(rng.choice(max_id, size=n, replace=False).astype(np.int64) + 1)
    by_age = np.argsort(year + rng.normal(0.0, 8.0, size=n), kind="stable")
    year, release_ts = year[by_age], release_ts[by_age]

    genres = _sample_genres(cfg, rng)
    primary = np.argmax(genres, axis=1)

    # Zipf-like popularity over a random rank order.
    rank = rng.permutation(n).astype(np.float64)
    log_pop = -cfg.popularity_exponent * np.log(rank + max(1.0, cfg.popularity_offset * n))
    log_pop -= log_pop.max()
    z_pop = (log_pop - log_pop.mean()) / (log_pop.std() + 1e-12)
    rho = cfg.bias_popularity_corr
    bias = cfg.item_bias_std * (rho * z_pop + np.sqrt(1 - rho**2) * rng.standard_normal(n))

    # Latent factors: a genre component (shared by movies of a genre) plus item noise.
    g_emb = rng.standard_normal((genres.shape[1], d))
    g_part = genres @ g_emb / np.sqrt(genres.sum(axis=1, keepdims=True))
    w = cfg.genre_factor_share
    factors = np.sqrt(w) * g_part + np.sqrt(1 - w) * rng.standard_normal((n, d))
    factors /= np.sqrt(d)
    return Catalog(
        movie_id=ids,
        year=year,
        release_ts=release_ts.astype(np.int64),
        genres=genres,
        genre_names=genre_names(cfg.n_genres),
        log_pop=log_pop,
        bias=bias.astype(np.float32),
        factors=factors.astype(np.float32),
        primary_genre=primary.astype(np.int64),
    )


def genre_strings(genres: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    """``|``-joined genre names per item; ``genres`` is an ``(I, G)`` bool multi-hot matrix."""
    bits = genres.astype(np.int64) @ (np.int64(1) << np.arange(genres.shape[1], dtype=np.int64))
    uniq, inverse = np.unique(bits, return_inverse=True)
    labels = ["|".join(n for j, n in enumerate(names) if (int(b) >> j) & 1) for b in uniq]
    return pa.array(labels, pa.string()).take(pa.array(inverse.ravel()))


def movies_table(cat: Catalog) -> pa.Table:
    """``movies.csv`` rows: ``movieId,title,genres`` with the year in the title."""
    ids = pa.array(cat.movie_id)
    title = pc.binary_join_element_wise(
        "Synthetic Movie ", pc.cast(ids, pa.string()), " (",
        pc.cast(pa.array(cat.year), pa.string()), ")", "",
    )  # fmt: skip
    return pa.table({"movieId": ids, "title": title,
                     "genres": genre_strings(cat.genres, cat.genre_names)})  # fmt: skip


def links_table(cat: Catalog, rng: np.random.Generator, missing_tmdb: float) -> pa.Table:
    """``links.csv`` rows: ``movieId,imdbId,tmdbId``; imdbId zero-padded to 7 digits as in ML."""
    n = len(cat.movie_id)
    imdb = np.sort(rng.choice(max(9_999_999, 4 * n), size=n, replace=False) + 1)
    imdb = imdb[np.argsort(np.argsort(cat.year, kind="stable"), kind="stable")]
    tmdb = rng.choice(max(700_000, 4 * n), size=n, replace=False) + 1
    imdb_s = pc.utf8_lpad(pc.cast(pa.array(imdb), pa.string()), 7, "0")
    tmdb_a = pa.array(tmdb, mask=rng.random(n) < missing_tmdb)
    return pa.table({"movieId": pa.array(cat.movie_id), "imdbId": imdb_s, "tmdbId": tmdb_a})


def alias_table(log_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for O(1) sampling from ``softmax(log_weights)``.

    Args:
        log_weights: ``(I,)`` unnormalised log probabilities.

    Returns:
        ``(prob (I,) float64, alias (I,) int64)``; sample with :func:`alias_sample`.
    """
    p = np.exp(log_weights - log_weights.max())
    scaled = p * (len(p) / p.sum())
    prob = np.ones(len(p))
    alias = np.arange(len(p), dtype=np.int64)
    small = list(np.flatnonzero(scaled < 1.0))
    large = list(np.flatnonzero(scaled >= 1.0))
    while small and large:  # once per item, not per rating
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias


def alias_sample(
    prob: np.ndarray, alias: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Draws ``size`` item indices with replacement from an alias table; returns ``(size,)``."""
    idx = rng.integers(0, len(prob), size=size)
    return np.where(rng.random(size) < prob[idx], idx, alias[idx])
