"""Validation of raw MovieLens tables inside DuckDB.

Works on the VARCHAR views created by :mod:`recsys.data.readers` (``raw_ratings``,
``raw_movies``) and produces typed tables ``clean_ratings`` and ``clean_movies``. Every problem is
reported with its file, line numbers (the first few) and count. In strict mode any problem raises
:class:`DataValidationError` carrying the full report; in lenient mode bad rows are dropped and
counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

MIN_RATING = 0.5
MAX_RATING = 5.0
EXAMPLES_PER_PROBLEM = 5


class DataValidationError(ValueError):
    """Raised in strict mode when the raw data has problems; the message is the full report."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.to_text())
        self.report = report


@dataclass
class Problem:
    """One kind of problem found in one file.

    Attributes:
        check: short name of the check (``non_numeric``, ``rating_out_of_range``...).
        file: the raw file the rows came from.
        count: how many rows have this problem.
        lines: the first few 1-based line numbers in ``file``.
        fix: what the user can do about it.
        action: what lenient mode did (``dropped``, ``kept latest``).
    """

    check: str
    file: str
    count: int
    lines: list[int]
    fix: str
    action: str

    def to_text(self) -> str:
        shown = ", ".join(str(line) for line in self.lines)
        more = " ..." if self.count > len(self.lines) else ""
        return (
            f"{self.file}: {self.count} row(s) with {self.check} (lines {shown}{more}); "
            f"{self.action} in lenient mode. Fix: {self.fix}"
        )


@dataclass
class ValidationReport:
    """All problems found, plus row counts before and after cleaning."""

    problems: list[Problem] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for problem in self.problems:
            totals[problem.check] = totals.get(problem.check, 0) + problem.count
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "problems": [problem.__dict__ for problem in self.problems],
        }

    def to_text(self) -> str:
        if self.ok:
            return "no problems found"
        lines = [f"{len(self.problems)} problem(s) found in the raw data:"]
        lines += [f"  - {problem.to_text()}" for problem in self.problems]
        lines.append("Run with data.strict=false to drop these rows and continue.")
        return "\n".join(lines)


# (check name, SQL predicate over a raw_ratings row, fix); a row is reported under the first
# check it fails, so the counts add up to the rows dropped.
_RATING_CHECKS: list[tuple[str, str, str]] = [
    (
        "null_values",
        "userId IS NULL OR movieId IS NULL OR rating IS NULL OR timestamp IS NULL "
        "OR trim(userId) = '' OR trim(movieId) = '' OR trim(rating) = '' OR trim(timestamp) = ''",
        "fill in every field of userId, movieId, rating, timestamp",
    ),
    (
        "non_numeric",
        "u IS NULL OR m IS NULL OR r IS NULL OR t IS NULL",
        "userId, movieId and timestamp must be integers and rating a number",
    ),
    (
        "rating_out_of_range",
        f"r NOT BETWEEN {MIN_RATING} AND {MAX_RATING}",
        f"ratings must lie in {MIN_RATING}..{MAX_RATING}",
    ),
]
_FIXES = {check: fix for check, _, fix in _RATING_CHECKS}


def _problem_rows(con: duckdb.DuckDBPyConnection, view: str, predicate: str) -> list[tuple]:
    """Count rows matching ``predicate`` per file, with the first line numbers."""
    return con.execute(
        f"""
        SELECT file, count(*) AS n, list(line ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}] AS lines
        FROM {view} WHERE {predicate} GROUP BY file ORDER BY file
        """
    ).fetchall()


def _collect(
    con: duckdb.DuckDBPyConnection, view: str, predicate: str, check: str, fix: str, action: str
) -> list[Problem]:
    return [
        Problem(check=check, file=file, count=int(n), lines=[int(x) for x in lines], fix=fix, action=action)
        for file, n, lines in _problem_rows(con, view, predicate)
    ]


def validate_movies(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Create ``clean_movies(movieId BIGINT, title VARCHAR, genres VARCHAR)`` from ``raw_movies``."""
    bad = "movieId IS NULL OR TRY_CAST(movieId AS BIGINT) IS NULL"
    report.problems += _collect(
        con, "raw_movies", bad, "non_numeric_movie_id", "movieId must be an integer", "dropped"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE movies_typed AS
        SELECT file, line, CAST(movieId AS BIGINT) AS movieId, coalesce(title, '') AS title,
               coalesce(genres, '') AS genres
        FROM raw_movies WHERE NOT ({bad})
        """
    )
    report.problems += _collect(
        con,
        "(SELECT *, count(*) OVER (PARTITION BY movieId) AS n_same, "
        "row_number() OVER (PARTITION BY movieId ORDER BY line) AS k FROM movies_typed)",
        "n_same > 1 AND k > 1",
        "duplicate_movie_id",
        "each movieId must appear once in the movies file",
        "kept first",
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE clean_movies AS
        SELECT movieId, title, genres FROM movies_typed
        QUALIFY row_number() OVER (PARTITION BY movieId ORDER BY line) = 1
        """
    )
    report.rows_in["movies"] = con.execute("SELECT count(*) FROM raw_movies").fetchone()[0]
    report.rows_out["movies"] = con.execute("SELECT count(*) FROM clean_movies").fetchone()[0]


def validate_ratings(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Create ``clean_ratings(userId, movieId, rating, timestamp)`` from ``raw_ratings``.

    One pass over the raw file casts every field and tags each row with the first check it fails;
    problems are then counted on the typed table. Expects ``clean_movies`` to exist. Duplicate
    (userId, movieId) pairs keep the latest rating (largest timestamp, then the later line).
    """
    cases = " ".join(f"WHEN {predicate} THEN '{check}'" for check, predicate, _ in _RATING_CHECKS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE ratings_typed AS
        SELECT file, line, u AS userId, m AS movieId, r AS rating, t AS timestamp,
               CASE {cases} ELSE NULL END AS problem
        FROM (
            SELECT file, line, userId, movieId, rating, timestamp,
                   TRY_CAST(userId AS BIGINT) AS u, TRY_CAST(movieId AS BIGINT) AS m,
                   TRY_CAST(rating AS FLOAT) AS r, TRY_CAST(timestamp AS BIGINT) AS t
            FROM raw_ratings
        )
        """
    )
    for check, file, n, lines in con.execute(
        f"""
        SELECT problem, file, count(*), list(line ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}]
        FROM ratings_typed WHERE problem IS NOT NULL GROUP BY problem, file ORDER BY problem, file
        """
    ).fetchall():
        report.problems.append(
            Problem(check, file, int(n), [int(x) for x in lines], _FIXES[check], "dropped")
        )
    report.problems += _collect(
        con,
        "ratings_typed",
        "problem IS NULL AND movieId NOT IN (SELECT movieId FROM clean_movies)",
        "unknown_movie",
        "every rated movieId must appear in the movies file",
        "dropped",
    )
    report.rows_in["ratings"] = con.execute("SELECT count(*) FROM ratings_typed").fetchone()[0]
    _dedupe_latest(con, report)
    con.execute("DROP TABLE ratings_typed")
    report.rows_out["ratings"] = con.execute("SELECT count(*) FROM clean_ratings").fetchone()[0]


def _dedupe_latest(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Keep the latest rating of each (user, movie); the window runs only when duplicates exist."""
    known = "problem IS NULL AND movieId IN (SELECT movieId FROM clean_movies)"
    total, distinct = con.execute(  # a plain group-by is cheaper than count(DISTINCT (struct))
        f"""SELECT coalesce(sum(n), 0), count(*) FROM (
            SELECT userId, movieId, count(*) AS n FROM ratings_typed WHERE {known} GROUP BY userId, movieId)"""
    ).fetchone()
    if total == distinct:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE clean_ratings AS
            SELECT userId, movieId, rating, timestamp FROM ratings_typed WHERE {known}"""
        )
        return
    ranked = (
        f"(SELECT *, row_number() OVER (PARTITION BY userId, movieId "
        f"ORDER BY timestamp DESC, line DESC) AS k FROM ratings_typed WHERE {known})"
    )
    report.problems += _collect(
        con,
        ranked,
        "k > 1",
        "duplicate_pairs",
        "rate each (userId, movieId) once; the latest rating was kept",
        "kept latest",
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE clean_ratings AS
        SELECT userId, movieId, rating, timestamp FROM {ranked} WHERE k = 1"""
    )


def validate(con: duckdb.DuckDBPyConnection, strict: bool) -> ValidationReport:
    """Validate ``raw_movies`` and ``raw_ratings`` and create the clean tables.

    Args:
        con: a connection on which the reader registered the raw views.
        strict: raise :class:`DataValidationError` if any problem is found.

    Returns:
        The report (also when strict and clean).
    """
    report = ValidationReport()
    validate_movies(con, report)
    validate_ratings(con, report)
    if strict and not report.ok:
        raise DataValidationError(report)
    if report.rows_out.get("ratings", 0) == 0:
        raise DataValidationError(
            ValidationReport(
                problems=report.problems
                + [Problem("no_valid_ratings", "ratings", 0, [], "check the ratings file", "none left")],
                rows_in=report.rows_in,
                rows_out=report.rows_out,
            )
        )
    return report
