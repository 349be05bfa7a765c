"""Physical lines of a raw text file as a DuckDB relation, split into fields in SQL.

DuckDB's CSV parser cannot number lines of a file that mixes CRLF and LF endings, stops at the
first row with a wrong field count and loses the original text of bad rows. So every raw file is
read here as one VARCHAR per physical line (`new_line='\\r\\n'` accepts CRLF and LF in any mix),
numbered by `row_number() OVER ()` (DuckDB keeps insertion order, the default), and split into
fields in SQL. Rows with the wrong field count stay visible, with their line and text, so that
validation can report and drop them (lenient) or fail on them (strict).

Quoting follows RFC 4180 within a line (`"a, b"`, `""` for a quote); a quoted field spanning
several lines is not supported (the official releases have none) and shows up as rows with a
wrong field count.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import duckdb

# DuckDB's own names for the encodings its CSV reader decodes (>= 1.2).
_DUCKDB_ENCODINGS = {"utf-8": "utf-8", "iso8859-1": "latin-1", "utf-16": "utf-16"}
# Never found in MovieLens text; DuckDB needs some delimiter (at most 4 bytes) for a 1-column read.
_NO_DELIMITER = "\x1f\x1e\x1d\x1c"


def check_encoding(encoding: str) -> str:
    """Returns DuckDB's name for `encoding` (`utf-8`, `latin-1` or `utf-16`).

    Raises:
        ValueError: If Python does not know the encoding or DuckDB cannot decode it, naming the
            setting and the accepted values.
    """
    try:
        name = codecs.lookup(str(encoding)).name
    except LookupError:
        name = None
    if name not in _DUCKDB_ENCODINGS:
        raise ValueError(
            f"data.reader.encoding={encoding!r} is not supported; the readers decode utf-8, "
            f"latin-1 (also spelled iso-8859-1) and utf-16. Fix: e.g. data.reader.encoding=latin-1"
        )
    return _DUCKDB_ENCODINGS[name]


def sql_str(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def ends_with_newline(path: Path) -> bool:
    """Whether the file's last byte ends a line (an empty file counts as terminated)."""
    with Path(path).open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


def lines_sql(path: Path, encoding: str) -> str:
    """A query of `(line BIGINT, text VARCHAR)`: every physical line, 1-based, ends stripped.

    The scan is single-threaded (`parallel=false`): DuckDB's parallel CSV reader refuses a full
    read of large files in this one-column mode ("does not support a full read on this file", seen
    on a 687 MB synthetic ratings.csv), and one thread keeps the lines in file order for
    `row_number()`. The scan takes about 2 s per 25M lines, but anything computed on its rows in
    the same query is single-threaded too, so the readers copy the lines into a table once.
    """
    scan = (
        f"read_csv({sql_str(str(Path(path).resolve()))}, columns={{'text': 'VARCHAR'}}, "
        f"auto_detect=false, header=false, delim={sql_str(_NO_DELIMITER)}, quote='', escape='', "
        f"new_line='\\r\\n', strict_mode=false, encoding={sql_str(encoding)}, parallel=false)"
    )
    return f"SELECT CAST(row_number() OVER () AS BIGINT) AS line, coalesce(text, '') AS text FROM {scan}"


def split_sql(delim: str, quoted: bool) -> str:
    """A SQL expression splitting the column `text` into a VARCHAR[] of fields."""
    plain = f"string_split(text, {sql_str(delim)})"
    if not quoted:
        return plain
    d = re.escape(delim)
    pattern = f'{d}("(?:[^"]|"")*"|[^{d}]*)'
    unquote = (
        "lambda x: CASE WHEN length(x) >= 2 AND x[1] = '\"' AND x[-1] = '\"' "
        "THEN replace(x[2:length(x) - 1], '\"\"', '\"') ELSE x END"
    )
    quoted_split = f"list_transform(regexp_extract_all({sql_str(delim)} || text, {sql_str(pattern)}, 1), {unquote})"
    return f"CASE WHEN contains(text, '\"') THEN {quoted_split} ELSE {plain} END"
