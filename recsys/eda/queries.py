"""Exploratory data analysis of a processed MovieLens-schema folder: the aggregates.

Every aggregate is computed by DuckDB over the Parquet files, so only small results (histograms,
per-genre tables, per-user counts) reach pandas; this keeps ml-25m to seconds. The figures live in
:mod:`recsys.eda.figures` and ``write_eda`` (figures plus ``EDA.md``, written atomically) in
:mod:`recsys.eda.report`; ``from recsys.eda.queries import write_eda`` also works.

Example:
    >>> from recsys.eda.queries import write_eda
    >>> write_eda(Path("data/processed/ml_latest_small/<hash>"), Path("experiments/eda/ml_latest_small"))
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

_TS = "make_timestamp(timestamp::BIGINT * 1000000)"  # epoch seconds -> TIMESTAMP (UTC)


def __getattr__(name: str) -> object:
    # write_eda lives in eda_report, which imports this module; resolve it lazily (PEP 562).
    if name == "write_eda":
        from recsys.eda.report import write_eda

        return write_eda
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_name(processed_dir: Path) -> str:
    """``<dataset>`` for ``data/processed/<dataset>/<hash>``, else the folder's own name."""
    processed_dir = Path(processed_dir).resolve()
    if processed_dir.parent.parent.name == "processed":
        return processed_dir.parent.name
    return processed_dir.name


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


@dataclass
class EdaSource:
    """A DuckDB connection with views over one processed folder.

    Views: ``ratings``, ``movies`` and, when ``split`` is given, ``train``, ``val``, ``test``
    (``val`` only where the file exists). Small tables computed once from ``ratings`` so that each
    figure does not rescan it: ``user_stats(user_idx, n, mean)``, ``item_stats(item_idx, n, s)``
    (``s`` the sum of ratings) and ``hour_stats(hour TIMESTAMP, n, s)`` (one row per UTC hour).
    """

    con: duckdb.DuckDBPyConnection
    processed_dir: Path
    split: str | None = None
    cache: dict[str, object] = field(default_factory=dict)

    def df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Runs ``sql`` and returns its (small) result as a DataFrame."""
        return self.con.execute(sql, params or []).df()

    def scalar(self, sql: str) -> float | int | None:
        """Runs ``sql`` and returns the first column of its first row."""
        return self.con.execute(sql).fetchone()[0]


def open_source(processed_dir: Path, split: str | None = None) -> EdaSource:
    """Opens ``processed_dir`` (``ratings.parquet``, ``movies.parquet``, ``splits/<split>/``).

    Raises:
        FileNotFoundError: when a required Parquet file or the named split is missing.
    """
    processed_dir = Path(processed_dir)
    views = {"ratings": processed_dir / "ratings.parquet", "movies": processed_dir / "movies.parquet"}
    if split is not None:
        split_dir = processed_dir / "splits" / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"split {split!r} not found under {processed_dir / 'splits'}")
        views.update({p: split_dir / f"{p}.parquet" for p in ("train", "val", "test")})
        if not views["val"].exists():
            del views["val"]
    for path in views.values():
        if not path.exists():
            raise FileNotFoundError(path)
    con = duckdb.connect()
    for view, path in views.items():
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{_sql_path(path)}')")
    for sql in (
        "CREATE TEMP TABLE user_stats AS SELECT user_idx, count(*) AS n, avg(rating) AS mean FROM ratings GROUP BY ALL",
        "CREATE TEMP TABLE item_stats AS SELECT item_idx, count(*) AS n, sum(rating) AS s FROM ratings GROUP BY ALL",
        f"CREATE TEMP TABLE hour_stats AS SELECT date_trunc('hour', {_TS}) AS hour, count(*) AS n, sum(rating) AS s "
        "FROM ratings GROUP BY ALL",
    ):
        con.execute(sql)
    return EdaSource(con=con, processed_dir=processed_dir, split=split)


def counts_per(src: EdaSource, key: str, table: str = "ratings") -> np.ndarray:
    """Ratings per ``key`` (``user_idx`` or ``item_idx``) in ``table``, sorted descending."""
    if table == "ratings":
        sql = f"SELECT n FROM {'user_stats' if key == 'user_idx' else 'item_stats'} ORDER BY n DESC"
    else:
        sql = f"SELECT count(*) AS n FROM {table} GROUP BY {key} ORDER BY n DESC"
    return src.con.execute(sql).fetchnumpy()["n"].astype(np.int64)


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Share of all ratings held by the top ``fraction`` of keys (``counts`` sorted descending)."""
    k = max(1, math.ceil(fraction * len(counts)))
    return float(counts[:k].sum() / counts.sum())


def genre_stats(src: EdaSource) -> pd.DataFrame:
    """Per genre: ``n_movies`` (catalog), ``n_ratings`` and ``mean_rating``, most movies first."""
    return src.df(
        """
        WITH per_item AS (SELECT * FROM item_stats),
        rated AS (SELECT g AS genre, sum(n) AS n_ratings, sum(s) / sum(n) AS mean_rating
                  FROM (SELECT p.n, p.s, unnest(m.genres) AS g FROM per_item p JOIN movies m USING (item_idx))
                  GROUP BY g),
        catalog AS (SELECT g AS genre, count(*) AS n_movies FROM (SELECT unnest(genres) AS g FROM movies) GROUP BY g)
        SELECT genre, n_movies, coalesce(n_ratings, 0) AS n_ratings, mean_rating
        FROM catalog LEFT JOIN rated USING (genre) ORDER BY n_movies DESC, genre
        """
    )


def key_numbers(src: EdaSource) -> dict[str, object]:
    """Headline numbers: sizes, density, rating mean, activity medians, time span, split sizes."""
    row = src.con.execute(
        """
        SELECT sum(n), (SELECT count(*) FROM user_stats), count(*), sum(s) / sum(n),
               (SELECT min(hour)::DATE FROM hour_stats), (SELECT max(hour)::DATE FROM hour_stats)
        FROM item_stats
        """
    ).fetchone()
    n_ratings, n_users, n_items = int(row[0] or 0), int(row[1]), int(row[2])
    users = counts_per(src, "user_idx")
    items = counts_per(src, "item_idx")
    numbers: dict[str, object] = {
        "n_ratings": n_ratings,
        "n_users": n_users,
        "n_items": n_items,
        "n_movies_in_catalog": int(src.scalar("SELECT count(*) FROM movies")),
        "n_genres": int(src.scalar("SELECT count(DISTINCT g) FROM (SELECT unnest(genres) AS g FROM movies)")),
        "density": n_ratings / max(1, n_users * n_items),
        "mean_rating": float(row[3]) if row[3] is not None else None,
        "median_ratings_per_user": float(np.median(users)) if n_ratings else 0.0,
        "median_ratings_per_item": float(np.median(items)) if n_ratings else 0.0,
        "first_rating": str(row[4]),
        "last_rating": str(row[5]),
    }
    if n_ratings:
        for frac in (0.01, 0.10, 0.20):
            numbers[f"share_top_{frac:.0%}_items"] = top_share(items, frac)
    if src.split:
        views = {r[0] for r in src.con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        for part in ("train", "val", "test"):
            if part in views:
                numbers[f"{part}_ratings"] = int(src.scalar(f"SELECT count(*) FROM {part}"))
    return numbers


def cold_start_counts(src: EdaSource) -> dict[str, int]:
    """Users/items with < 5 and < 20 ratings (in train when a split is open, else in all ratings).

    With a split it also counts test users and test items that never occur in train, and the test
    ratings that touch an unseen item. The result is cached on ``src``.
    """
    if "cold_start" not in src.cache:
        src.cache["cold_start"] = _cold_start_counts(src)
    return dict(src.cache["cold_start"])


def _cold_start_counts(src: EdaSource) -> dict[str, int]:
    users, items = "user_stats", "item_stats"
    if src.split:
        for key, name in (("user_idx", "users"), ("item_idx", "items")):
            src.con.execute(
                f"CREATE OR REPLACE TEMP TABLE train_{name} AS SELECT {key}, count(*) AS n FROM train GROUP BY ALL"
            )
        users, items = "train_users", "train_items"
    out: dict[str, int] = {}
    for name, table in (("users", users), ("items", items)):
        row = src.con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE n < 5), count(*) FILTER (WHERE n < 20) FROM {table}"
        ).fetchone()
        out.update({name: row[0], f"{name} < 5 ratings": row[1], f"{name} < 20 ratings": row[2]})
    if src.split:
        row = src.con.execute(
            """
            SELECT count(DISTINCT t.user_idx) FILTER (WHERE u.user_idx IS NULL),
                   count(DISTINCT t.item_idx) FILTER (WHERE i.item_idx IS NULL),
                   count(*) FILTER (WHERE i.item_idx IS NULL)
            FROM test t LEFT JOIN train_users u ON t.user_idx = u.user_idx
                        LEFT JOIN train_items i ON t.item_idx = i.item_idx
            """
        ).fetchone()
        out.update(dict(zip(("test users unseen in train", "test items unseen in train",
                             "test ratings on unseen items"), row)))
    return {k: int(v) for k, v in out.items()}


def validation_counts(processed_dir: Path) -> dict[str, object] | None:
    """The checks of ``validation.json`` as ``{name: value}``, or None when the file is absent.

    The ``counts`` dict comes first (the whole file when it has no ``counts``); other top-level
    entries follow as context: scalars as they are, flat dicts as ``key.sub``, lists by length.
    """
    path = Path(processed_dir) / "validation.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        return {"validation": data}
    counts = data.get("counts", data)
    out: dict[str, object] = dict(counts) if isinstance(counts, dict) else {"counts": counts}
    for key, value in data.items() if "counts" in data else ():
        if key == "counts":
            continue
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items() if not isinstance(v, (dict, list))})
        elif isinstance(value, list):
            out[f"{key} (entries)"] = len(value)
        else:
            out[key] = value
    return out


def short_text(value: object, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
