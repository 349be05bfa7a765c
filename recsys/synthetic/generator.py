"""Seeded synthetic data with MovieLens-25M's shape, at any scale.

``generate_synthetic(SyntheticConfig(), Path("data/synthetic/ml25m_shape"))`` writes ``ratings.csv``,
``movies.csv``, ``links.csv``, ``tags.csv`` and ``README.txt`` in the ML-25M layout (see
ARCHITECTURE.md, "Data on disk"), so every reader and processing step runs on it unchanged.

Generative model (standardised score units, then mapped onto the half-star grid):

- user activity: log-normal, at least ``min_ratings_per_user``, total exactly ``n_ratings``;
- item popularity: Zipf-like ``(rank + offset * n_items) ** -popularity_exponent``;
- which items a user rates: weighted sampling without replacement, weight
  ``popularity * exp(taste_temperature * p_u . q_i)`` (``synthetic_sampling``), where item vectors
  ``q_i`` share a per-genre component, so users have genre tastes;
- the rating: ``b_u + b_i + interaction_std * p_u . q_i + noise_std * eps``, cut at thresholds
  calibrated on a pilot sample so that the marginal matches ML-25M's rating histogram;
- timestamps inside each user's active period and never before the movie's release.

The output is byte-identical for the same ``(config, chunk_users)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from recsys.data.settings import check_int, check_number
from recsys.synthetic.catalog import (
    GENERIC_TAGS, GENRE_TAGS, Catalog, alias_table, build_catalog, links_table, movies_table,
)  # fmt: skip
from recsys.synthetic.sampling import Rows, Users, build_users, generate_rows, latent_scores
from recsys.synthetic.sampling import select_items

#: ML-25M rating histogram for 0.5, 1.0, ..., 5.0 (counts / 25,000,095).
ML25M_RATING_PROBS: tuple[float, ...] = tuple(
    c / 25_000_095
    for c in (393_068, 776_815, 399_490, 1_640_868, 1_262_797, 4_896_928, 3_177_318, 6_639_798,
              2_200_539, 3_612_474)
)  # fmt: skip
RATING_STRINGS: tuple[str, ...] = tuple(f"{0.5 * (i + 1):.1f}" for i in range(10))
_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass
class SyntheticConfig:
    """Size, seed and shape of a synthetic MovieLens-like data set (defaults: ML-25M's shape).

    Timestamps are unix seconds; the default period is ML-25M's (1995-01-09 .. 2019-11-21).
    Score-unit parameters (``*_std``) are relative: the rating thresholds are calibrated so the
    marginal rating histogram equals ``rating_probs`` whatever their scale.
    """

    n_users: int = 162_541
    n_items: int = 59_047
    n_ratings: int = 25_000_095
    n_genres: int = 20
    latent_dim: int = 16
    min_ratings_per_user: int = 20
    seed: int = 0
    start_timestamp: int = 789_652_009
    end_timestamp: int = 1_574_327_703
    # user activity
    activity_sigma: float = 1.4  # log-normal sigma of ratings beyond the minimum
    max_user_fraction: float = 0.55  # cap on one user's ratings as a share of the catalogue
    span_sigma: float = 2.5  # log-normal sigma of a user's active period
    # item popularity and catalogue
    popularity_exponent: float = 2.5  # weight (rank + offset) ** -exponent
    popularity_offset: float = 0.02  # as a fraction of n_items, flattens the head
    release_age_scale: float = 20.0  # mean age (years) of a movie at end_timestamp
    min_release_year: int = 1902
    genre_count_probs: tuple[float, float, float] = (0.45, 0.35, 0.20)  # 1, 2 or 3 genres
    genre_factor_share: float = 0.5  # share of an item vector's variance set by its genres
    # selection and ratings
    taste_temperature: float = 1.0
    late_release_penalty: float = 2.0  # log-weight penalty for films released after the user left
    user_bias_std: float = 0.55
    item_bias_std: float = 0.6
    bias_popularity_corr: float = 0.3
    interaction_std: float = 0.55
    noise_std: float = 0.6
    rating_probs: tuple[float, ...] = field(default=ML25M_RATING_PROBS)
    # sampler internals
    candidate_factor: float = 2.0
    candidate_extra: int = 16
    dense_user_fraction: float = 0.05
    pilot_users: int = 4096
    # tags and links
    tagger_fraction: float = 0.09
    tags_per_rating: float = 0.044
    missing_tmdb_fraction: float = 0.002

    def __post_init__(self) -> None:
        """Checks every numeric setting (``data.generator.<field>``) before anything is generated."""
        at = "data.generator."
        for name in ("n_users", "n_items", "n_ratings", "n_genres", "latent_dim", "pilot_users"):
            check_int(at + name, getattr(self, name), getattr(SyntheticConfig, name), minimum=1)
        for name in ("min_ratings_per_user", "seed", "candidate_extra", "start_timestamp"):
            check_int(at + name, getattr(self, name), getattr(SyntheticConfig, name), minimum=0)
        check_int(at + "end_timestamp", self.end_timestamp, SyntheticConfig.end_timestamp,
                  minimum=self.start_timestamp + 1)
        check_int(at + "min_release_year", self.min_release_year, SyntheticConfig.min_release_year)
        for name in ("max_user_fraction", "dense_user_fraction", "tagger_fraction",
                     "missing_tmdb_fraction", "genre_factor_share", "tags_per_rating"):
            value = getattr(self, name)
            check_number(at + name, value, getattr(SyntheticConfig, name), minimum=0.0)
            if value > 1:
                raise ValueError(f"{at}{name}={value!r} is a share and must lie in [0, 1]. "
                                 f"Fix: e.g. {at}{name}={getattr(SyntheticConfig, name)}")
        for name in ("activity_sigma", "span_sigma", "popularity_exponent", "popularity_offset",
                     "release_age_scale", "taste_temperature", "late_release_penalty", "user_bias_std",
                     "item_bias_std", "interaction_std", "noise_std", "candidate_factor"):
            check_number(at + name, getattr(self, name), getattr(SyntheticConfig, name), minimum=0.0)
        check_number(at + "bias_popularity_corr", self.bias_popularity_corr, 0.3, minimum=-1.0)
        if self.n_ratings < self.n_users * self.min_ratings_per_user:
            raise ValueError(
                f"{at}n_ratings={self.n_ratings} is below n_users * min_ratings_per_user = "
                f"{self.n_users * self.min_ratings_per_user}. Fix: raise {at}n_ratings or lower "
                f"{at}min_ratings_per_user"
            )


def rating_thresholds(
    cfg: SyntheticConfig, U: Users, cat: Catalog, alias: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Cut points ``(9,)`` on the latent score giving the ``rating_probs`` histogram.

    Calibrated on the selected (user, item) pairs of a pilot sample of users, drawn from an RNG
    stream separate from the main one.
    """
    rng = np.random.default_rng([cfg.seed, 2])
    n = min(cfg.n_users, cfg.pilot_users)
    pilot = np.sort(rng.choice(cfg.n_users, size=n, replace=False))
    user, item, dot = select_items(pilot, U, cat, alias, cfg, rng)
    score = latent_scores(user, item, dot, U, cat, cfg, rng)
    probs = np.asarray(cfg.rating_probs, dtype=np.float64)
    return np.quantile(score, np.cumsum(probs / probs.sum())[:-1]).astype(np.float32)


def _write_header(path: Path, columns: list[str]) -> BinaryIO:
    f = open(path, "wb")
    f.write((",".join(columns) + "\n").encode())
    return f


def _ratings_batch(rows: Rows, movie_id: np.ndarray, grid: pa.Array) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(rows.user + 1), pa.array(movie_id[rows.item]), grid.take(pa.array(rows.rating_idx)),
         pa.array(rows.timestamp)],
        names=["userId", "movieId", "rating", "timestamp"],
    )  # fmt: skip


def _tags_batch(
    rows: Rows, U: Users, cat: Catalog, vocab: pa.Array, cfg: SyntheticConfig,
    rng: np.random.Generator,
) -> pa.RecordBatch:  # fmt: skip
    """A few tag rows on rated (user, movie) pairs of tagging users."""
    p = min(1.0, cfg.tags_per_rating / max(cfg.tagger_fraction, 1e-9))
    pick = np.flatnonzero(U.tagger[rows.user] & (rng.random(len(rows.user)) < p))
    n_generic = len(GENERIC_TAGS)
    generic = rng.random(len(pick)) < 0.4
    tag_idx = np.where(generic, rng.integers(0, n_generic, len(pick)),
                       n_generic + 3 * cat.primary_genre[rows.item[pick]]
                       + rng.integers(0, 3, len(pick)))  # fmt: skip
    ts = np.minimum(rows.timestamp[pick] + rng.integers(0, 600, len(pick)), cfg.end_timestamp)
    return pa.record_batch(
        [pa.array(rows.user[pick] + 1), pa.array(cat.movie_id[rows.item[pick]]),
         vocab.take(pa.array(tag_idx)), pa.array(ts)],
        names=["userId", "movieId", "tag", "timestamp"],
    )  # fmt: skip


def _readme(cfg: SyntheticConfig, chunk_users: int) -> str:
    return (
        "SYNTHETIC data in the MovieLens-25M layout, generated by recsys.synthetic.generator.\n"
        "No row describes a real user, movie, rating or tag; titles, ids and links are made up.\n"
        "Files: ratings.csv (userId,movieId,rating,timestamp), movies.csv (movieId,title,genres),\n"
        "links.csv (movieId,imdbId,tmdbId), tags.csv (userId,movieId,tag,timestamp).\n"
        f"Regenerate byte-identically with the same config and chunk_users={chunk_users}.\n\n"
        "Config:\n" + json.dumps(dataclasses.asdict(cfg), indent=2) + "\n"
    )


def generate_synthetic(
    cfg: SyntheticConfig, output_dir: Path, chunk_users: int = 8192, progress: bool = True
) -> Path:
    """Generates a synthetic MovieLens-like data set into ``output_dir``.

    Files are written as ``<name>.tmp`` and renamed once complete, so a crash never leaves a
    truncated file under a final name. Memory is bounded by ``chunk_users`` (users per chunk).

    Args:
        cfg: sizes, seed and shape parameters.
        output_dir: folder to create/overwrite files in.
        chunk_users: users generated per chunk (changing it changes the random draws).
        progress: show a tqdm bar over chunks.

    Returns:
        ``output_dir``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([cfg.seed, 1])
    cat = build_catalog(cfg, rng)
    U = build_users(cfg, rng)
    alias = alias_table(cat.log_pop)
    thresholds = rating_thresholds(cfg, U, cat, alias)

    tmp = {n: output_dir / f"{n}.tmp" for n in ("ratings.csv", "movies.csv", "links.csv",
                                                "tags.csv", "README.txt")}  # fmt: skip
    for name, table in (("movies.csv", movies_table(cat)),
                        ("links.csv", links_table(cat, rng, cfg.missing_tmdb_fraction))):  # fmt: skip
        with _write_header(tmp[name], table.column_names) as f:
            pacsv.write_csv(table, f, write_options=_WRITE)

    grid = pa.array(RATING_STRINGS, pa.string())
    vocab = pa.array(list(GENERIC_TAGS) + [t for g in cat.genre_names for t in GENRE_TAGS[g]])
    starts = range(0, cfg.n_users, chunk_users)
    with (_write_header(tmp["ratings.csv"], ["userId", "movieId", "rating", "timestamp"]) as fr,
          _write_header(tmp["tags.csv"], ["userId", "movieId", "tag", "timestamp"]) as ft):  # fmt: skip
        wr = pacsv.CSVWriter(fr, _ratings_schema(), write_options=_WRITE)
        wt = pacsv.CSVWriter(ft, _tags_schema(), write_options=_WRITE)
        for c, lo in enumerate(tqdm(starts, desc="synthetic users", unit="chunk",
                                    disable=not progress)):  # fmt: skip
            crng = np.random.default_rng([cfg.seed, 3, c])
            users = np.arange(lo, min(lo + chunk_users, cfg.n_users), dtype=np.int64)
            rows = generate_rows(users, U, cat, alias, thresholds, cfg, crng)
            wr.write_batch(_ratings_batch(rows, cat.movie_id, grid))
            wt.write_batch(_tags_batch(rows, U, cat, vocab, cfg, crng))
        wr.close()
        wt.close()
    tmp["README.txt"].write_text(_readme(cfg, chunk_users))
    for name, path in tmp.items():
        os.replace(path, output_dir / name)
    return output_dir


def _ratings_schema() -> pa.Schema:
    return pa.schema([("userId", pa.int64()), ("movieId", pa.int64()), ("rating", pa.string()),
                      ("timestamp", pa.int64())])  # fmt: skip


def _tags_schema() -> pa.Schema:
    return pa.schema([("userId", pa.int64()), ("movieId", pa.int64()), ("tag", pa.string()),
                      ("timestamp", pa.int64())])  # fmt: skip
