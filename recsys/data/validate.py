"""Validation of raw MovieLens tables inside DuckDB.

Works on the VARCHAR views created by :mod:`recsys.data.readers` (``raw_ratings``,
``raw_movies``) and produces typed tables ``clean_ratings`` and ``clean_movies``. Every problem is
reported with its file, line numbers (the first few) and count. In strict mode any problem raises
:class:`DataValidationError` carrying the full report; in lenient mode bad rows are dropped and
counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import duckdb

from recsys.data.checks import MAX_RATING, MIN_RATING, RATINGS_FAST_PATH, Rule, first_failure_sql, fixes, movie_rules, rating_rules

__all__ = ["MAX_RATING", "MIN_RATING", "DataValidationError", "Problem", "ValidationReport", "validate"]

EXAMPLES_PER_PROBLEM = 5


class DataValidationError(ValueError):
    """Raised when the raw data cannot be used; the message is the full report.

    In strict mode any problem raises it; in lenient mode only a ratings file with no usable row.
    """

    def __init__(self, report: ValidationReport, strict: bool = True) -> None:
        super().__init__(report.to_text(strict=strict))
        self.report = report


@dataclass
class Problem:
    """One kind of problem found in one file.

    Attributes:
        check: short name of the check (``non_numeric``, ``wrong_field_count``...).
        file: the raw file the rows came from.
        count: how many rows have this problem.
        lines: the first few 1-based line numbers in ``file``.
        fix: what the user can do about it.
        action: what lenient mode did (``dropped``, ``kept latest``).
        field: the offending field (``userId``...), empty when the problem is the whole row.
        examples: per line in ``lines``, what was found: the value and the original line text.
    """

    check: str
    file: str
    count: int
    lines: list[int]
    fix: str
    action: str
    field: str = ""
    examples: list[str] = dc_field(default_factory=list)

    def to_text(self) -> str:
        where = f" in field {self.field}" if self.field else ""
        shown = "; ".join(self.examples) or ", ".join(f"line {line}" for line in self.lines)
        more = " ..." if self.count > len(self.lines) else ""
        return (
            f"{self.file}: {self.count} row(s) with {self.check}{where} ({shown}{more}); "
            f"{self.action} in lenient mode. Fix: {self.fix}"
        )


@dataclass
class ValidationReport:
    """All problems found, plus row counts before and after cleaning."""

    problems: list[Problem] = dc_field(default_factory=list)
    rows_in: dict[str, int] = dc_field(default_factory=dict)
    rows_out: dict[str, int] = dc_field(default_factory=dict)
    fatal: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.fatal

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

    def to_text(self, strict: bool = True) -> str:
        if self.ok:
            return "no problems found"
        lines = [self.fatal] if self.fatal else []
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s) found in the raw data:")
            lines += [f"  - {problem.to_text()}" for problem in self.problems]
        if strict and self.problems and not self.fatal:
            lines.append("Run with data.strict=false to drop these rows and continue.")
        return "\n".join(lines)


def _example(line: int, text: str, value: str | None, field_name: str) -> str:
    shown = f"{field_name}={value!r} " if field_name else ""
    return f"line {line}: {shown}in {text!r}"


def _collect(
    con: duckdb.DuckDBPyConnection, view: str, predicate: str, check: str, fix: str, action: str,
    text_view: str = "raw_ratings",
) -> list[Problem]:
    """One `Problem` per file for the rows of ``view`` matching ``predicate``.

    The original text of the example lines is looked up in ``text_view`` (the raw lines), so the
    typed tables need not carry every line's text (25M rows: GBs).
    """
    rows = con.execute(
        f"""SELECT file, count(*), list(line ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}]
            FROM {view} WHERE {predicate} GROUP BY file ORDER BY file"""
    ).fetchall()
    problems = []
    for file, n, lines in rows:
        texts = dict(con.execute(
            f"SELECT line, text FROM {text_view} WHERE file = ? AND line IN ({', '.join(str(int(x)) for x in lines)})",
            [file],
        ).fetchall())
        problems.append(Problem(check, file, int(n), [int(x) for x in lines], fix, action,
                                examples=[_example(int(x), texts.get(x), None, "") for x in lines]))
    return problems


def malformed_problems(con: duckdb.DuckDBPyConnection, view: str, columns: tuple[str, ...]) -> list[Problem]:
    """Rows of ``<view>_malformed`` (wrong field count), one `Problem` per file."""
    rows = con.execute(
        f"""SELECT file, expected, count(*), list(line ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}],
                   list(text ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}],
                   list(found ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}]
            FROM {view}_malformed GROUP BY file, expected ORDER BY file"""
    ).fetchall()
    return [
        Problem(
            "wrong_field_count", file, int(n), [int(x) for x in lines],
            f"each line needs exactly {expected} fields ({', '.join(columns)}); repair or delete "
            f"these lines (a title or tag with a comma must be \"quoted\")", "dropped",
            examples=[f"line {x}: expected {expected} fields, found {k} in {t!r}" for x, t, k in zip(lines, texts, found)],
        )
        for file, expected, n, lines, texts, found in rows
    ]


def tag_failures(
    con: duckdb.DuckDBPyConnection, view: str, rules: list[Rule], table: str, fast_path: str | None = None
) -> list[Problem]:
    """Creates ``table`` = ``view`` plus ``problem``/``field`` of the first failed rule; reports them."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT * EXCLUDE (text), CASE WHEN p IS NULL THEN NULL ELSE text END AS text,
               split_part(p, ':', 1) AS problem, split_part(p, ':', 2) AS field
        FROM (SELECT *, {first_failure_sql(rules, fast_path)} AS p FROM {view})"""
    )
    value = "CASE field " + " ".join(
        f"WHEN '{f}' THEN \"{f}\"" for f in sorted({r[1] for r in rules if r[1]})) + " END"
    found = con.execute(
        f"""SELECT problem, field, file, count(*), list(line ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}],
                   list(text ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}],
                   list({value} ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}]
            FROM {table} WHERE p IS NOT NULL GROUP BY problem, field, file ORDER BY problem, field, file"""
    ).fetchall()
    fix = fixes(rules)
    return [
        Problem(check, file, int(n), [int(x) for x in lines], fix[(check, name)], "dropped", name,
                [_example(int(x), t, v, name) for x, t, v in zip(lines, texts, values)])
        for check, name, file, n, lines, texts, values in found
    ]


def validate_movies(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Create ``clean_movies(movieId BIGINT, title VARCHAR, genres VARCHAR)`` from ``raw_movies``."""
    from recsys.data.readers import MOVIES_COLUMNS

    report.problems += malformed_problems(con, "raw_movies", MOVIES_COLUMNS)
    report.problems += tag_failures(con, "raw_movies", movie_rules(), "movies_checked")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE movies_typed AS
        SELECT file, line, text, CAST(trim(movieId) AS BIGINT) AS movieId, coalesce(title, '') AS title,
               coalesce(genres, '') AS genres
        FROM movies_checked WHERE p IS NULL
        """
    )
    con.execute("DROP TABLE movies_checked")
    report.problems += _collect(
        con,
        "(SELECT *, count(*) OVER (PARTITION BY movieId) AS n_same, "
        "row_number() OVER (PARTITION BY movieId ORDER BY line) AS k FROM movies_typed)",
        "n_same > 1 AND k > 1",
        "duplicate_movie_id",
        "each movieId must appear once in the movies file",
        "kept first",
        text_view="raw_movies",
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE clean_movies AS
        SELECT movieId, title, genres FROM movies_typed
        QUALIFY row_number() OVER (PARTITION BY movieId ORDER BY line) = 1
        """
    )
    malformed = con.execute("SELECT count(*) FROM raw_movies_malformed").fetchone()[0]
    report.rows_in["movies"] = con.execute("SELECT count(*) FROM raw_movies").fetchone()[0] + malformed
    report.rows_out["movies"] = con.execute("SELECT count(*) FROM clean_movies").fetchone()[0]


def validate_ratings(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Create ``clean_ratings(userId, movieId, rating, timestamp)`` from ``raw_ratings``.

    One pass over the raw file checks and casts every field, tagging each row with the first rule
    it fails (:mod:`recsys.data.checks`); rows with a wrong field count come from
    ``raw_ratings_malformed``. Expects ``clean_movies`` to exist. Duplicate (userId, movieId) pairs
    keep the latest rating (largest timestamp, then the later line).
    """
    from recsys.data.readers import RATINGS_COLUMNS

    report.problems += malformed_problems(con, "raw_ratings", RATINGS_COLUMNS)
    report.problems += tag_failures(con, "raw_ratings", rating_rules(), "ratings_checked", RATINGS_FAST_PATH)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ratings_typed AS
        SELECT file, line, CAST(trim(userId) AS BIGINT) AS userId,
               CAST(trim(movieId) AS BIGINT) AS movieId, CAST(trim(rating) AS FLOAT) AS rating,
               CAST(trim(timestamp) AS BIGINT) AS timestamp
        FROM ratings_checked WHERE p IS NULL
        """
    )
    con.execute("DROP TABLE ratings_checked")
    report.problems += _collect(
        con,
        "ratings_typed",
        "movieId NOT IN (SELECT movieId FROM clean_movies)",
        "unknown_movie",
        "every rated movieId must appear in the movies file",
        "dropped",
    )
    malformed = con.execute("SELECT count(*) FROM raw_ratings_malformed").fetchone()[0]
    report.rows_in["ratings"] = con.execute("SELECT count(*) FROM raw_ratings").fetchone()[0] + malformed
    _dedupe_latest(con, report)
    con.execute("DROP TABLE ratings_typed")
    report.rows_out["ratings"] = con.execute("SELECT count(*) FROM clean_ratings").fetchone()[0]


def _dedupe_latest(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Keep the latest rating of each (user, movie); the window runs only when duplicates exist."""
    known = "movieId IN (SELECT movieId FROM clean_movies)"
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


def _check_optional(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Rows of ``links.csv``/``tags.csv`` with a wrong field count are reported and dropped too."""
    from recsys.data.readers import LINKS_COLUMNS, TAGS_COLUMNS

    views = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    for view, columns in (("raw_links", LINKS_COLUMNS), ("raw_tags", TAGS_COLUMNS)):
        if f"{view}_malformed" in views:
            report.problems += malformed_problems(con, view, columns)


def _no_ratings_message(report: ValidationReport, ratings_files: list[Path]) -> str:
    names = ", ".join(str(p) for p in ratings_files) or "the ratings file"
    if report.rows_in.get("ratings", 0) == 0:
        return (f"{names} has no ratings: it holds at most a header line. Fix: point raw_dir at a "
                f"complete copy of the data set (re-download or regenerate it)")
    return (f"{names}: none of its {report.rows_in['ratings']} rating row(s) is usable; every one "
            f"was dropped for the problems below. Fix: repair the file (see each problem's Fix)")


def validate(
    con: duckdb.DuckDBPyConnection, strict: bool, ratings_files: list[Path] | None = None
) -> ValidationReport:
    """Validate ``raw_movies`` and ``raw_ratings`` and create the clean tables.

    Args:
        con: a connection on which the reader registered the raw views.
        strict: raise :class:`DataValidationError` if any problem is found.
        ratings_files: the files behind ``raw_ratings``, named when none of their rows is usable.

    Returns:
        The report (also when strict and clean).

    Raises:
        DataValidationError: strict mode and any problem, or (either mode) no usable rating.
    """
    report = ValidationReport()
    validate_movies(con, report)
    validate_ratings(con, report)
    _check_optional(con, report)
    if report.rows_out.get("ratings", 0) == 0:
        report.fatal = _no_ratings_message(report, list(ratings_files or []))
        raise DataValidationError(report, strict=strict)
    if strict and not report.ok:
        raise DataValidationError(report, strict=True)
    return report
