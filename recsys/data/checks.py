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


def first_failure_sql(rules: list[Rule]) -> str:
    """A SQL expression: ``'<check>:<field>'`` of the first rule the row fails, else NULL."""
    cases = " ".join(f"WHEN {predicate} THEN {sql_str(check + ':' + field)}"
                     for check, field, predicate, _ in rules)
    return f"CASE {cases} ELSE NULL END"


def fixes(rules: list[Rule]) -> dict[tuple[str, str], str]:
    """``(check, field) -> fix`` of the rules."""
    return {(check, field): fix for check, field, _, fix in rules}
