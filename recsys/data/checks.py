"""The rules a raw row must pass, as SQL over the VARCHAR views of :mod:`recsys.data.readers`.

Each rule is ``(check, field, predicate, fix)``; a row is reported under the first rule it fails,
so the counts add up to the rows dropped. Values are trimmed, then:

- ids (``userId``, ``movieId``) are plain non-negative integers: digits only (``^[0-9]+$``), so
  ``1.7``, ``1e3``, ``0x10``, ``1_000``, ``-3`` are reported rather than cast into another id;
- timestamps are integers (``^-?[0-9]+$``), Unix seconds;
- ratings are decimal numbers (``^-?[0-9]+(\\.[0-9]+)?$``: no exponent, no trailing ``.``), in
  0.5..5 and on the half-star grid (``2.25`` is reported);
- the last line of a file that does not end in a newline is reported as ``truncated_last_line``:
  a file cut inside its last row can still show the right field count with a shortened, valid
  looking value (``...,96498`` for ``...,964982703``, ``2`` for ``2.5``), which no field rule can
  detect. Every complete MovieLens file ends with a newline; if yours is complete, add one.
"""

from __future__ import annotations

from recsys.data.lines import sql_str

MIN_RATING = 0.5
MAX_RATING = 5.0
ID_PATTERN = "^[0-9]+$"
INTEGER_PATTERN = "^-?[0-9]+$"
NUMBER_PATTERN = "^-?[0-9]+(\\.[0-9]+)?$"

Rule = tuple[str, str, str, str]

TRUNCATED: Rule = (
    "truncated_last_line", "", "NOT complete",
    "the file ends inside this line, without a newline: it looks truncated (an interrupted "
    "download or copy). Re-download the file; if the line is complete, end the file with a newline",
)


def _filled(field: str) -> Rule:
    return ("null_values", field, f'nullif(trim("{field}"), \'\') IS NULL', f"fill in {field}")


def _matches(field: str, pattern: str, cast: str, what: str) -> Rule:
    predicate = (f'NOT regexp_full_match(trim("{field}"), {sql_str(pattern)}) '
                 f'OR TRY_CAST(trim("{field}") AS {cast}) IS NULL')
    return ("non_numeric", field, predicate, f"{field} must be {what}")


_ID = "a plain non-negative integer (digits only: no sign, decimal point, exponent, 0x or _)"


def id_rules(field: str) -> list[Rule]:
    """Rules for an id column: present, digits only, fits BIGINT."""
    return [_filled(field), _matches(field, ID_PATTERN, "BIGINT", _ID)]


def rating_rules() -> list[Rule]:
    """The rules of one `raw_ratings` row, in reporting order."""
    r = 'TRY_CAST(trim("rating") AS DOUBLE)'
    return [
        TRUNCATED,
        *(_filled(f) for f in ("userId", "movieId", "rating", "timestamp")),
        _matches("userId", ID_PATTERN, "BIGINT", _ID),
        _matches("movieId", ID_PATTERN, "BIGINT", _ID),
        _matches("rating", NUMBER_PATTERN, "DOUBLE", "a decimal number such as 3.5"),
        _matches("timestamp", INTEGER_PATTERN, "BIGINT", "an integer (Unix seconds)"),
        ("rating_out_of_range", "rating", f"{r} NOT BETWEEN {MIN_RATING} AND {MAX_RATING}",
         f"ratings must lie in {MIN_RATING}..{MAX_RATING}"),
        ("rating_not_half_star", "rating", f"{r} * 2 <> round({r} * 2)",
         "ratings are whole or half stars (0.5, 1.0, ..., 5.0)"),
    ]


def movie_rules() -> list[Rule]:
    """The rules of one `raw_movies` row."""
    return [TRUNCATED, *id_rules("movieId")]


# Rows in the canonical form of the official files pass every rating rule: the first WHEN of the
# CASE accepts them with a few cheap tests (5M rows: 0.5 s instead of 2-5 s for all the rules).
# Ids and timestamps of at most 18 digits always fit BIGINT; the ratings listed are the half stars.
_HALF_STARS = ", ".join(sql_str(v) for v in
                        ("0.5", "1", "1.0", "1.5", "2", "2.0", "2.5", "3", "3.0", "3.5", "4", "4.0", "4.5", "5", "5.0"))
RATINGS_FAST_PATH = (
    "complete AND length(\"userId\") <= 18 AND regexp_full_match(\"userId\", '[0-9]+') "
    "AND length(\"movieId\") <= 18 AND regexp_full_match(\"movieId\", '[0-9]+') "
    "AND length(\"timestamp\") <= 18 AND regexp_full_match(\"timestamp\", '-?[0-9]+') "
    f"AND \"rating\" IN ({_HALF_STARS})"
)


def first_failure_sql(rules: list[Rule], fast_path: str | None = None) -> str:
    """A SQL expression: the 1-based index in ``rules`` of the first rule the row fails, else NULL.

    Args:
        fast_path: a predicate that implies every rule passes (checked first), or None.
    """
    cases = " ".join(f"WHEN {predicate} THEN {i}" for i, (_, _, predicate, _) in enumerate(rules, start=1))
    fast = f"WHEN {fast_path} THEN NULL " if fast_path else ""
    return f"CASE {fast}{cases} ELSE NULL END"


def fixes(rules: list[Rule]) -> dict[tuple[str, str], str]:
    """``(check, field) -> fix`` of the rules."""
    return {(check, field): fix for check, field, _, fix in rules}
