"""User, item and interaction features, computed in DuckDB from the training split only.

Validation and test ratings never reach a feature: statistics come from ``train`` alone and are
then joined onto every split (a test in ``tests/data/test_features.py`` changes val/test ratings
and checks that no feature moves).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_MONTH = 30.44 * SECONDS_PER_DAY
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY


def user_features_sql(train: str, movies: str) -> str:
    """Per-user features over ``train``.

    Columns: user_idx, rating_mean, rating_std, rating_count, rating_range, top_genres (the 3 most
    rated genres), ratings_per_month, days_since_last (to the last rating in the training split).
    """
    return f"""
        WITH stats AS (
            SELECT user_idx, avg(rating) AS rating_mean, coalesce(stddev_samp(rating), 0) AS rating_std,
                   count(*) AS rating_count, max(rating) - min(rating) AS rating_range,
                   min(timestamp) AS first_ts, max(timestamp) AS last_ts
            FROM {train} GROUP BY user_idx
        ),
        genre_counts AS (
            SELECT t.user_idx, g.genre, count(*) AS n
            FROM {train} t JOIN (SELECT item_idx, unnest(genres) AS genre FROM {movies}
                                 WHERE item_idx IS NOT NULL) g USING (item_idx)
            GROUP BY t.user_idx, g.genre
        ),
        top_genres AS (
            SELECT user_idx, list(genre ORDER BY n DESC, genre) [1:3] AS top_genres
            FROM genre_counts GROUP BY user_idx
        ),
        horizon AS (SELECT max(timestamp) AS end_ts FROM {train})
        SELECT s.user_idx, s.rating_mean, s.rating_std, s.rating_count, s.rating_range,
               coalesce(tg.top_genres, []::VARCHAR[]) AS top_genres,
               s.rating_count / greatest((s.last_ts - s.first_ts) / {SECONDS_PER_MONTH}, 1.0)
                 AS ratings_per_month,
               (h.end_ts - s.last_ts) / {SECONDS_PER_DAY} AS days_since_last
        FROM stats s LEFT JOIN top_genres tg USING (user_idx), horizon h
        ORDER BY s.user_idx
    """


def item_features_sql(train: str, movies: str) -> str:
    """Per-item features over ``train`` for every item of the catalogue (``movies`` with an index).

    Columns: item_idx, rating_count, log_popularity (log1p count), rating_mean (global mean when
    unrated in train), rating_std, rating_trend (least-squares slope of rating per year),
    year, genres. Genres are turned into a multi-hot matrix when loaded into tensors.
    """
    return f"""
        WITH stats AS (
            SELECT item_idx, count(*) AS rating_count, avg(rating) AS rating_mean,
                   coalesce(stddev_samp(rating), 0) AS rating_std,
                   coalesce(regr_slope(rating, timestamp / {SECONDS_PER_YEAR}), 0) AS rating_trend
            FROM {train} GROUP BY item_idx
        ),
        global AS (SELECT avg(rating) AS mean FROM {train})
        SELECT m.item_idx, coalesce(s.rating_count, 0) AS rating_count,
               ln(1 + coalesce(s.rating_count, 0)) AS log_popularity,
               coalesce(s.rating_mean, g.mean) AS rating_mean, coalesce(s.rating_std, 0) AS rating_std,
               coalesce(s.rating_trend, 0) AS rating_trend, m.year, m.genres
        FROM {movies} m LEFT JOIN stats s USING (item_idx), global g
        WHERE m.item_idx IS NOT NULL
        ORDER BY m.item_idx
    """


def interaction_features_sql(rows: str, user_features: str) -> str:
    """Per-rating features for any split's ``rows``, using train-only user statistics.

    Columns: user_idx, item_idx, rating_z (rating z-scored by the user's train mean and std; 0 for
    users without train ratings or without spread), day_of_week (0 = Sunday), hour (UTC).
    """
    return f"""
        SELECT r.user_idx, r.item_idx,
               CASE WHEN u.rating_std > 0 THEN (r.rating - u.rating_mean) / u.rating_std ELSE 0 END
                 AS rating_z,
               dayofweek(to_timestamp(r.timestamp)) AS day_of_week,
               hour(to_timestamp(r.timestamp)) AS hour
        FROM {rows} r LEFT JOIN {user_features} u USING (user_idx)
    """


def write_features(con: duckdb.DuckDBPyConnection, split_dir: Path, movies_parquet: Path) -> None:
    """Write ``features/{users,items,interactions_<split>}.parquet`` for one split folder.

    Args:
        con: a DuckDB connection.
        split_dir: folder with ``train.parquet``, ``val.parquet`` and ``test.parquet``.
        movies_parquet: the processed ``movies.parquet``.
    """
    out = split_dir / "features"
    out.mkdir(parents=True, exist_ok=True)
    train = f"read_parquet('{split_dir / 'train.parquet'}')"
    movies = f"read_parquet('{movies_parquet}')"
    con.execute(f"CREATE OR REPLACE TEMP TABLE user_features AS {user_features_sql(train, movies)}")
    con.execute(f"COPY user_features TO '{out / 'users.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY ({item_features_sql(train, movies)}) TO '{out / 'items.parquet'}' (FORMAT parquet)")
    for split in ("train", "val", "test"):
        rows = f"read_parquet('{split_dir / (split + '.parquet')}')"
        query = interaction_features_sql(rows, "user_features")
        con.execute(f"COPY ({query}) TO '{out / f'interactions_{split}.parquet'}' (FORMAT parquet)")
    con.execute("DROP TABLE user_features")
