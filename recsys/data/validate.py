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

from recsys.data.checks import MAX_RATING, MIN_RATING, RATINGS_FAST_PATH, Rule, first_failure_sql, movie_rules, rating_rules
from recsys.data.lines import sql_str

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


def check_rows(
    con: duckdb.DuckDBPyConnection, view: str, columns: tuple[str, ...], rules: list[Rule],
    typed: dict[str, str], table: str, fast_path: str | None = None,
) -> list[Problem]:
    """Checks every line of ``<view>_all`` in one pass over its file and reports the failures.

    Creates ``table(line, p, <typed>)``: ``p`` is NULL for a row that passes, 0 for a wrong field
    count, else the 1-based index in ``rules`` of the first rule the row fails; the typed columns
    (``typed``: name -> SQL expression over the VARCHAR fields) are filled only where ``p`` is NULL.
    The file is read once: the original text of the example lines is looked up again only when
    there are problems.

    Returns:
        Wrong field counts first, then one `Problem` per failed rule, in (check, field) order.
    """
    values = ", ".join(f"CASE WHEN p IS NULL THEN {expr} END AS \"{name}\"" for name, expr in typed.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT line, CAST(p AS UTINYINT) AS p, {values}
        FROM (SELECT *, CASE WHEN found <> expected THEN 0 ELSE {first_failure_sql(rules, fast_path)} END AS p
              FROM {view}_all)"""
    )
    failed = con.execute(
        f"""SELECT p, count(*), list(line ORDER BY line)[1:{EXAMPLES_PER_PROBLEM}]
            FROM {table} WHERE p IS NOT NULL GROUP BY p"""
    ).fetchall()
    if not failed:
        return []
    wanted = ", ".join(str(int(x)) for _, _, lines in failed for x in lines)
    cursor = con.execute(f"SELECT * FROM {view}_all WHERE line IN ({wanted})")
    names = [d[0] for d in cursor.description]
    found = {row["line"]: row for row in (dict(zip(names, r)) for r in cursor.fetchall())}
    problems = []
    for p, count, lines in failed:
        file = found[lines[0]]["file"]
        if p == 0:
            expected = found[lines[0]]["expected"]
            problems.append(Problem(
                "wrong_field_count", file, int(count), lines,
                f"each line needs exactly {expected} fields ({', '.join(columns)}); repair or delete "
                f"these lines (a title or tag with a comma must be \"quoted\")", "dropped",
                examples=[f"line {x}: expected {expected} fields, found {found[x]['found']} in {found[x]['text']!r}"
                          for x in lines],
            ))
            continue
        check, name, _, fix = rules[p - 1]
        problems.append(Problem(check, file, int(count), lines, fix, "dropped", name,
                                [_example(x, found[x]["text"], found[x].get(name), name) for x in lines]))
    return sorted(problems, key=lambda q: (q.check != "wrong_field_count", q.check, q.field))


def validate_movies(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Create ``clean_movies(movieId BIGINT, title VARCHAR, genres VARCHAR)`` from ``raw_movies``."""
    from recsys.data.readers import MOVIES_COLUMNS

    typed = {"movieId": 'CAST(trim("movieId") AS BIGINT)', "title": "coalesce(title, '')",
             "genres": "coalesce(genres, '')"}
    report.problems += check_rows(con, "raw_movies", MOVIES_COLUMNS, movie_rules(), typed, "movies_checked")
    file = con.execute("SELECT file FROM raw_movies_source").fetchone()[0]
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW movies_typed AS
        SELECT {sql_str(file)} AS file, line, movieId, title, genres FROM movies_checked WHERE p IS NULL"""
    )
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
    report.rows_in["movies"] = con.execute("SELECT count(*) FROM movies_checked").fetchone()[0]
    report.rows_out["movies"] = con.execute("SELECT count(*) FROM clean_movies").fetchone()[0]
    con.execute("DROP VIEW movies_typed")
    con.execute("DROP TABLE movies_checked")


def validate_ratings(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Create ``clean_ratings(userId, movieId, rating, timestamp)`` from ``raw_ratings``.

    One pass over the raw file checks and casts every field, tagging each row with the first rule
    it fails (:mod:`recsys.data.checks`) or a wrong field count (:func:`check_rows`). Expects
    ``clean_movies`` to exist. Duplicate (userId, movieId) pairs keep the latest rating (largest
    timestamp, then the later line).
    """
    from recsys.data.readers import RATINGS_COLUMNS

    typed = {"userId": 'CAST(trim("userId") AS BIGINT)', "movieId": 'CAST(trim("movieId") AS BIGINT)',
             "rating": "CAST(trim(rating) AS FLOAT)", "timestamp": 'CAST(trim("timestamp") AS BIGINT)'}
    report.problems += check_rows(con, "raw_ratings", RATINGS_COLUMNS, rating_rules(), typed,
                                  "ratings_checked", RATINGS_FAST_PATH)
    file = con.execute("SELECT file FROM raw_ratings_source").fetchone()[0]
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW ratings_typed AS SELECT {sql_str(file)} AS file, line,
        userId, movieId, rating, timestamp FROM ratings_checked WHERE p IS NULL"""
    )
    report.problems += _collect(
        con,
        "ratings_typed",
        "movieId NOT IN (SELECT movieId FROM clean_movies)",
        "unknown_movie",
        "every rated movieId must appear in the movies file",
        "dropped",
    )
    report.rows_in["ratings"] = con.execute("SELECT count(*) FROM ratings_checked").fetchone()[0]
    _dedupe_latest(con, report)
    con.execute("DROP VIEW ratings_typed")
    con.execute("DROP TABLE ratings_checked")
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
