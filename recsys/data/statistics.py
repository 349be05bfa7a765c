"""Summary statistics of a processed data set (``statistics.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def dataset_statistics(con: duckdb.DuckDBPyConnection, ratings: str) -> dict[str, Any]:
    """n_users, n_movies, n_ratings, sparsity, avg_rating and rating_std of ``ratings``.

    Args:
        con: a DuckDB connection.
        ratings: a table name or ``read_parquet(...)`` expression with user_idx, item_idx, rating.
    """
    n_users, n_movies, n_ratings, avg, std, first, last = con.execute(
        f"""
        SELECT count(DISTINCT user_idx), count(DISTINCT item_idx), count(*), avg(rating),
               stddev_samp(rating), min(timestamp), max(timestamp)
        FROM {ratings}
        """
    ).fetchone()
    sparsity = 1.0 - n_ratings / (n_users * n_movies) if n_users and n_movies else 1.0
    return {
        "n_users": int(n_users),
        "n_movies": int(n_movies),
        "n_ratings": int(n_ratings),
        "sparsity": float(sparsity),
        "avg_rating": float(avg or 0.0),
        "rating_std": float(std or 0.0),
        "first_timestamp": int(first or 0),
        "last_timestamp": int(last or 0),
    }


def split_statistics(con: duckdb.DuckDBPyConnection, split_dir: Path) -> dict[str, Any]:
    """Per-split counts: ratings, users, items, and val/test users and items unseen in train.

    Distinct users and items of each part are collected once (small tables); the unseen counts are
    anti-joins of those against train's, so the three Parquet files are each read once.
    """
    out: dict[str, Any] = {}
    for name in ("train", "val", "test"):
        source = f"read_parquet('{split_dir / (name + '.parquet')}')"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_users AS SELECT DISTINCT user_idx FROM {source}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_items AS SELECT DISTINCT item_idx FROM {source}")
        n_ratings = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
        n_users = con.execute(f"SELECT count(*) FROM {name}_users").fetchone()[0]
        n_items = con.execute(f"SELECT count(*) FROM {name}_items").fetchone()[0]
        out[name] = {"n_ratings": int(n_ratings), "n_users": int(n_users), "n_items": int(n_items)}
    for name in ("val", "test"):
        out[name]["users_not_in_train"] = int(
            con.execute(f"SELECT count(*) FROM {name}_users ANTI JOIN train_users USING (user_idx)").fetchone()[0]
        )
        out[name]["items_not_in_train"] = int(
            con.execute(f"SELECT count(*) FROM {name}_items ANTI JOIN train_items USING (item_idx)").fetchone()[0]
        )
    for name in ("train", "val", "test"):
        con.execute(f"DROP TABLE {name}_users")
        con.execute(f"DROP TABLE {name}_items")
    return out
