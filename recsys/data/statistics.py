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
    """Per-split counts: ratings, users, items, and test/val users and items unseen in train."""
    parts = {name: f"read_parquet('{split_dir / (name + '.parquet')}')" for name in ("train", "val", "test")}
    out: dict[str, Any] = {}
    for name, source in parts.items():
        n_ratings, n_users, n_items = con.execute(
            f"SELECT count(*), count(DISTINCT user_idx), count(DISTINCT item_idx) FROM {source}"
        ).fetchone()
        out[name] = {"n_ratings": int(n_ratings), "n_users": int(n_users), "n_items": int(n_items)}
    for name in ("val", "test"):
        cold_users, cold_items = con.execute(
            f"""
            SELECT count(DISTINCT user_idx) FILTER (WHERE user_idx NOT IN (SELECT user_idx FROM {parts['train']})),
                   count(DISTINCT item_idx) FILTER (WHERE item_idx NOT IN (SELECT item_idx FROM {parts['train']}))
            FROM {parts[name]}
            """
        ).fetchone()
        out[name]["users_not_in_train"] = int(cold_users)
        out[name]["items_not_in_train"] = int(cold_items)
    return out
