"""Raw MovieLens files to typed Parquet with DuckDB.

``process_raw`` reads any MovieLens format through a reader, validates it, maps user and movie ids
to contiguous indices and writes ``ratings.parquet``, ``movies.parquet``, ``users.parquet``,
``links.parquet``/``tags.parquet`` (where present), ``validation.json`` and ``statistics.json``.
``write_split`` adds one split with its features. Both write into a temporary folder that is renamed
into place only when complete.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import duckdb

from recsys.data.features import write_features
from recsys.data.statistics import dataset_statistics, split_statistics
from recsys.data.validate import ValidationReport, validate
from recsys.utils.atomic import atomic_directory
from recsys.utils.atomic import write_json_atomic

log = logging.getLogger(__name__)

# "Title (1995)" -> year 1995; a few titles carry a range "(2007-2013)" or trailing spaces.
YEAR_PATTERN = r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$"
NO_GENRES = "(no genres listed)"


class RawReader(Protocol):
    """What :func:`process_raw` needs of a reader (see :mod:`recsys.data.readers`)."""

    def register(self, con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]: ...

    def ratings_files(self, raw_dir: Path) -> list[Path]: ...


class SplitStrategy(Protocol):
    """What :func:`write_split` needs of a split (see :mod:`recsys.data.splits`)."""

    name: str

    def params(self) -> dict[str, Any]: ...

    def assign(self, con: duckdb.DuckDBPyConnection, source: str) -> str: ...


def connect(memory_limit: str | None = None, threads: int | None = None, temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with bounded memory that spills to ``temp_dir`` when needed."""
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = '{temp_dir}'")
    return con


def _write_movies(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE item_map AS
        SELECT movieId, CAST(row_number() OVER (ORDER BY movieId) - 1 AS INTEGER) AS item_idx
        FROM (SELECT DISTINCT movieId FROM clean_ratings)
        """
    )
    con.execute(
        f"""
        COPY (
          SELECT im.item_idx, m.movieId,
                 trim(regexp_replace(m.title, '{YEAR_PATTERN}', '')) AS title,
                 TRY_CAST(nullif(regexp_extract(m.title, '{YEAR_PATTERN}', 1), '') AS INTEGER) AS year,
                 CASE WHEN m.genres IN ('', '{NO_GENRES}') THEN []::VARCHAR[]
                      ELSE string_split(m.genres, '|') END AS genres
          FROM clean_movies m LEFT JOIN item_map im USING (movieId)
          ORDER BY m.movieId
        ) TO '{out / "movies.parquet"}' (FORMAT parquet)
        """
    )


def _write_ratings(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE user_map AS
        SELECT userId, CAST(row_number() OVER (ORDER BY userId) - 1 AS INTEGER) AS user_idx
        FROM (SELECT DISTINCT userId FROM clean_ratings)
        """
    )
    con.execute(f"COPY (SELECT user_idx, userId FROM user_map ORDER BY user_idx) TO '{out / 'users.parquet'}' (FORMAT parquet)")
    con.execute(
        f"""
        COPY (
          SELECT um.user_idx, im.item_idx, r.userId, r.movieId, r.rating, r.timestamp
          FROM clean_ratings r JOIN user_map um USING (userId) JOIN item_map im USING (movieId)
          ORDER BY um.user_idx, r.timestamp, im.item_idx
        ) TO '{out / "ratings.parquet"}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """
    )


def _write_optional(con: duckdb.DuckDBPyConnection, views: list[str], out: Path) -> None:
    if "raw_links" in views:
        con.execute(
            f"""COPY (SELECT TRY_CAST(movieId AS BIGINT) AS movieId, imdbId, TRY_CAST(tmdbId AS BIGINT) AS tmdbId
                FROM raw_links WHERE TRY_CAST(movieId AS BIGINT) IS NOT NULL)
                TO '{out / "links.parquet"}' (FORMAT parquet)"""
        )
    if "raw_tags" in views:
        con.execute(
            f"""COPY (SELECT TRY_CAST(userId AS BIGINT) AS userId, TRY_CAST(movieId AS BIGINT) AS movieId, tag,
                       TRY_CAST(timestamp AS BIGINT) AS timestamp
                FROM raw_tags WHERE TRY_CAST(userId AS BIGINT) IS NOT NULL)
                TO '{out / "tags.parquet"}' (FORMAT parquet)"""
        )


def process_raw(
    reader: RawReader,
    raw_dir: Path,
    output_dir: Path,
    strict: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> ValidationReport:
    """Process one raw MovieLens folder into ``output_dir`` (replaced atomically).

    Args:
        reader: registers the raw files as DuckDB views.
        raw_dir: the folder holding the raw files.
        output_dir: where the processed files go; left untouched if anything fails.
        strict: fail on the first validation problem instead of dropping bad rows.
        con: an existing connection (a new bounded one is made otherwise).

    Returns:
        The validation report (also written to ``validation.json``).

    Raises:
        recsys.data.validate.DataValidationError: strict mode and the raw data has problems.
    """
    con = con or connect()
    with atomic_directory(Path(output_dir)) as out:
        views = reader.register(con, Path(raw_dir))
        report = validate(con, strict=strict, ratings_files=reader.ratings_files(Path(raw_dir)))
        for problem in report.problems:
            log.warning("%s", problem.to_text())
        _write_movies(con, out)
        _write_ratings(con, out)
        _write_optional(con, views, out)
        write_json_atomic(out / "validation.json", report.to_dict())
        stats = dataset_statistics(con, f"read_parquet('{out / 'ratings.parquet'}')")
        write_json_atomic(out / "statistics.json", stats)
        for table in ("clean_ratings", "clean_movies", "user_map", "item_map", *(f"{view}_text" for view in views)):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return report


def write_split(
    split: SplitStrategy,
    processed_dir: Path,
    split_dir: Path,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """Write ``{train,val,test}.parquet``, features and ``statistics.json`` of one split.

    Returns:
        The per-split statistics.

    Raises:
        ValueError: the split left the train or test part empty.
    """
    con = con or connect()
    processed_dir = Path(processed_dir)
    source = f"read_parquet('{processed_dir / 'ratings.parquet'}')"
    with atomic_directory(Path(split_dir)) as out:
        con.execute(f"CREATE OR REPLACE TEMP TABLE split_rows AS {split.assign(con, source)}")
        for name in ("train", "val", "test"):
            con.execute(
                f"""COPY (SELECT * EXCLUDE (split) FROM split_rows WHERE split = '{name}'
                          ORDER BY user_idx, timestamp, item_idx)
                    TO '{out / (name + '.parquet')}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)"""
            )
        con.execute("DROP TABLE split_rows")
        stats = split_statistics(con, out)
        for name in ("train", "test"):
            if stats[name]["n_ratings"] == 0:
                raise ValueError(
                    f"split '{split.name}' ({split.params()}) left the {name} part of "
                    f"{processed_dir} empty; choose other fractions or another split"
                )
        write_features(con, out, processed_dir / "movies.parquet")
        write_json_atomic(out / "statistics.json", {"split": split.params(), **stats})
    return stats
