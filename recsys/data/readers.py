"""Readers that expose each MovieLens file format as DuckDB views of raw text.

Every reader registers the same views, whatever the format, so that validation and processing
(`recsys/data/process.py`) are written once:

- `raw_ratings(file, line, userId, movieId, rating, timestamp)`
- `raw_movies(file, line, movieId, title, genres)` with `|`-separated genres
- `raw_links(file, line, movieId, imdbId, tmdbId)` and `raw_tags(file, line, userId, movieId, tag,
  timestamp)` where the set has them.

All data columns are VARCHAR (an empty field is NULL); `file` is the source path, `line` its
1-based physical line number (a CSV header is line 1), `text` the original line and `complete`
false only for the last line of a file that does not end in a newline (the mark of a truncated
file; validation drops it). Lines are read by `recsys.data.lines`, so CRLF, LF or a mix of both
number correctly. Rows whose field count is wrong are not in `raw_<x>` but in
`raw_<x>_malformed(file, line, text, expected, found)`, so validation reports and drops them
(lenient) or fails (strict) instead of the parser aborting. `raw_<x>_all` has every line with
`found`/`expected` field counts (validation checks it in one pass over the file) and
`raw_<x>_source(file)` names the file without reading it.

With `validate=True` (the default) `register` reads each file's lines once into the temp table
`<view>_text(line, text)` (about 2 s and 1.2 GB per 25M lines; drop it when done, as
`recsys.data.process` does): undecodable text (a Latin-1 file read as UTF-8) raises
`RawFormatError` here, naming the file, line and text, and the views read the table in parallel
(the file scan itself is single-threaded to keep line numbers). With `validate=False` the views
are lazy: DuckDB reads the file, single-threaded, each time a view is queried.
Every reader takes an `encoding` (`utf-8`, `latin-1`; checked when the reader is built).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recsys.data.lines import check_encoding, ends_with_newline, lines_sql, split_sql, sql_str

RATINGS_COLUMNS = ("userId", "movieId", "rating", "timestamp")
MOVIES_COLUMNS = ("movieId", "title", "genres")
LINKS_COLUMNS = ("movieId", "imdbId", "tmdbId")
TAGS_COLUMNS = ("userId", "movieId", "tag", "timestamp")
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
ML100K_ITEM_COLUMNS = ("movieId", "title", "releaseDate", "videoReleaseDate", "imdbUrl",
                       *(f"genre{i}" for i in range(len(ML100K_GENRES))))
ML100K_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
NO_GENRES = "(no genres listed)"


class RawFormatError(ValueError):
    """A raw file is missing or does not have the expected layout.

    Attributes:
        path: The offending file.
        line: 1-based line number, or None when it is about the whole file.
        expected: What the reader expected (header, field count, ...).
        found: What it found instead.
    """

    def __init__(
        self, path: Path, line: int | None, expected: str, found: str, fix: str = ""
    ) -> None:
        self.path, self.line, self.expected, self.found = Path(path), line, expected, found
        where = f"{path}" if line is None else f"{path}, line {line}"
        message = f"{where}: expected {expected}, found {found}"
        super().__init__(f"{message}. {fix}" if fix else message)


@dataclass(frozen=True)
class _Layout:
    """How one text file is laid out."""

    names: tuple[str, ...]
    delim: str
    header: bool = False
    encoding: str = "utf-8"
    quote: str = ""


_CSV = dict(delim=",", header=True, quote='"')
_DAT = dict(delim="::")


def _require(path: Path) -> Path:
    if not path.is_file():
        raise RawFormatError(
            path, None, "a MovieLens file", "no such file",
            "Fix: download the set with `recsys-download --size <set> "
            "--output data/raw` and point raw_dir at the extracted folder",
        )
    return path


def _check_header(path: Path, layout: _Layout) -> None:
    with path.open("rb") as fh:
        first = fh.readline(1 << 16).decode(layout.encoding, errors="replace")
    first = first.lstrip("\ufeff").rstrip("\r\n")
    found = next(csv.reader([first]), []) if first else []
    if tuple(found) != layout.names:
        raise RawFormatError(
            path, 1, f"the header {','.join(layout.names)!r}",
            repr(first) if first else "an empty file",
            "Fix: check that raw_dir holds this MovieLens format (see recsys/data/readers.py)",
        )


def _format_error(path: Path, layout: _Layout, message: str) -> RawFormatError:
    line = re.search(r"Line: (\d+)", message)
    original = re.search(r"Original Line: ?(.*)", message)
    shown = f" in the line {original.group(1)!r}" if original and original.group(1) else ""
    lines = [x.strip() for x in message.splitlines()]
    details = [x for x in lines[1:] if x and not x.startswith("Original Line")]
    reason = (details or lines)[0].removeprefix("Invalid Input Error: ")
    other = "latin-1" if layout.encoding != "latin-1" else "utf-8"
    return RawFormatError(
        path, int(line.group(1)) if line else None, f"text in {layout.encoding}",
        f"text DuckDB cannot decode ({reason}){shown}",
        f"Fix: if the file is in another encoding, set data.reader.encoding={other}",
    )


def _create_view(
    con: duckdb.DuckDBPyConnection,
    view: str,
    path: Path,
    layout: _Layout,
    select: str | None = None,
    *,
    validate: bool = True,
) -> str:
    """Creates `view` (well-formed rows) and `<view>_malformed` over one file; returns `view`."""
    _require(path)
    if con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is False:
        raise ValueError("readers need preserve_insertion_order=true on the DuckDB connection "
                         "to number lines; do not turn it off before register()")
    if layout.header:
        _check_header(path, layout)
    if validate:
        # One single-threaded scan of the file (line numbers need file order) into a table: text
        # DuckDB cannot decode fails here, and every later query reads the lines in parallel.
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {view}_text AS {lines_sql(path, layout.encoding)}")
        except duckdb.Error as err:
            raise _format_error(path, layout, str(err)) from None
        source = f"{view}_text"
    else:
        source = f"({lines_sql(path, layout.encoding)})"
    last = 0 if ends_with_newline(path) else con.execute(f"SELECT coalesce(max(line), 0) FROM {source}").fetchone()[0]
    n = len(layout.names)
    con.execute(
        f"""CREATE OR REPLACE VIEW {view}_lines AS
        SELECT {sql_str(str(path))} AS file, line, text, line <> {last} AS complete,
               {split_sql(layout.delim, bool(layout.quote))} AS fields
        FROM {source} WHERE line > {1 if layout.header else 0}"""
    )
    con.execute(f"CREATE OR REPLACE VIEW {view}_source AS SELECT {sql_str(str(path))} AS file")
    columns = ", ".join(f"nullif(fields[{i + 1}], '') AS \"{name}\"" for i, name in enumerate(layout.names))
    select = select or ", ".join(f'"{name}"' for name in layout.names)
    con.execute(
        f"""CREATE OR REPLACE VIEW {view}_all AS
        SELECT file, line, text, complete, CAST(len(fields) AS INTEGER) AS found, {n} AS expected, {select}
        FROM (SELECT file, line, text, complete, fields, {columns} FROM {view}_lines)"""
    )
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * EXCLUDE (found, expected) FROM {view}_all WHERE found = expected")
    con.execute(
        f"""CREATE OR REPLACE VIEW {view}_malformed AS
        SELECT file, line, text, expected, found FROM {view}_all WHERE found <> expected"""
    )
    return view


class CsvReader:
    """The CSV layout of ml-latest-small, ml-20m and ml-25m (and `recsys` synthetic sets).

    Files: `ratings.csv` and `movies.csv` (required), `links.csv` and `tags.csv` (optional); a
    header row, `"`-quoted fields (titles and tags may contain commas).

    Args:
        validate: Scan every file once in `register` so that undecodable text fails early.
        encoding: Text encoding of the files: `utf-8` (the official releases) or `latin-1`.

    Raises:
        ValueError: If `encoding` is not one the readers decode (before any file is read).
    """

    FILES = {"raw_ratings": ("ratings.csv", RATINGS_COLUMNS, True),
             "raw_movies": ("movies.csv", MOVIES_COLUMNS, True),
             "raw_links": ("links.csv", LINKS_COLUMNS, False),
             "raw_tags": ("tags.csv", TAGS_COLUMNS, False)}

    def __init__(self, validate: bool = True, encoding: str = "utf-8") -> None:
        self.validate = validate
        self.encoding = check_encoding(encoding)

    def ratings_files(self, raw_dir: Path) -> list[Path]:
        """Returns the files that hold ratings (`[raw_dir/ratings.csv]`)."""
        return [Path(raw_dir) / "ratings.csv"]

    def register(self, con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]:
        """Creates `raw_ratings`, `raw_movies` and, where present, `raw_links` and `raw_tags`.

        Args:
            con: DuckDB connection that receives the views.
            raw_dir: Folder with the CSV files, e.g. `data/raw/ml-25m`.

        Returns:
            Names of the views created.

        Raises:
            RawFormatError: If a required file is missing or a file has the wrong layout.
        """
        views = []
        for view, (name, columns, required) in self.FILES.items():
            path = Path(raw_dir) / name
            if required or path.is_file():
                layout = _Layout(columns, encoding=self.encoding, **_CSV)
                views.append(_create_view(con, view, path, layout, validate=self.validate))
        return views


class DatReader:
    """The `::`-separated, Latin-1, header-less layout of ml-1m.

    Files: `ratings.dat` (`UserID::MovieID::Rating::Timestamp`) and `movies.dat`
    (`MovieID::Title::Genres`, genres `|`-separated); `users.dat` is not read.

    Args:
        validate: Scan every file once in `register` so that undecodable text fails early.
        encoding: Text encoding of the files (`latin-1` for the official release).
    """

    def __init__(self, validate: bool = True, encoding: str = "latin-1") -> None:
        self.validate = validate
        self.encoding = check_encoding(encoding)

    def ratings_files(self, raw_dir: Path) -> list[Path]:
        """Returns the files that hold ratings (`[raw_dir/ratings.dat]`)."""
        return [Path(raw_dir) / "ratings.dat"]

    def register(self, con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]:
        """Creates `raw_ratings` and `raw_movies` (see `CsvReader.register`)."""
        raw_dir = Path(raw_dir)
        return [
            _create_view(con, "raw_ratings", raw_dir / "ratings.dat",
                         _Layout(RATINGS_COLUMNS, encoding=self.encoding, **_DAT), validate=self.validate),
            _create_view(con, "raw_movies", raw_dir / "movies.dat",
                         _Layout(MOVIES_COLUMNS, encoding=self.encoding, **_DAT), validate=self.validate),
        ]


class Ml100kReader:
    """The layout of ml-100k: tab-separated ratings and a `|`-separated, Latin-1 `u.item`.

    Ratings files (`u.data`, `u1.base`, `u1.test`, ...) are `user item rating timestamp`. `u.item`
    holds 5 fields and 19 genre flags (`ML100K_GENRES` order); `raw_movies.genres` joins the
    flagged genres with `|` (`(no genres listed)` when none is set, as in the CSV sets).

    Args:
        ratings_file: File in raw_dir that becomes `raw_ratings` (`u.data`, or e.g. `u1.base`).
        validate: Scan every file once in `register` so that undecodable text fails early.
        encoding: Text encoding of the files (`latin-1` for the official release).
    """

    def __init__(self, ratings_file: str = "u.data", validate: bool = True, encoding: str = "latin-1") -> None:
        self.ratings_file = ratings_file
        self.validate = validate
        self.encoding = check_encoding(encoding)

    def ratings_files(self, raw_dir: Path) -> list[Path]:
        """Returns the files that hold ratings (`[raw_dir/<ratings_file>]`)."""
        return [Path(raw_dir) / self.ratings_file]

    def register(self, con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]:
        """Creates `raw_ratings` (from `ratings_file`) and `raw_movies` (from `u.item`)."""
        raw_dir = Path(raw_dir)
        flags = ", ".join(f"CASE WHEN genre{i} = '1' THEN {sql_str(g)} END"
                          for i, g in enumerate(ML100K_GENRES))
        select = (f"movieId, title, coalesce(nullif(concat_ws('|', {flags}), ''), "
                  f"{sql_str(NO_GENRES)}) AS genres")
        item = _Layout(ML100K_ITEM_COLUMNS, "|", encoding=self.encoding)
        return [
            _create_view(con, "raw_ratings", raw_dir / self.ratings_file, self._u_data(),
                         validate=self.validate),
            _create_view(con, "raw_movies", raw_dir / "u.item", item, select,
                         validate=self.validate),
        ]

    def register_file(self, con: duckdb.DuckDBPyConnection, path: Path, view_name: str) -> str:
        """Creates a `raw_ratings`-shaped view over one `u.data`-format file.

        Args:
            con: DuckDB connection that receives the view.
            path: A `u.data`-format file (`u.data`, `u1.base`, `ua.test`, ...).
            view_name: Name of the view to create (replaced if it exists).

        Returns:
            `view_name`.

        Raises:
            RawFormatError: If the file is missing or a line does not have 4 tab-separated fields.
        """
        _create_view(con, view_name, Path(path), self._u_data(), validate=self.validate)
        bad = con.execute(f"SELECT line, text, found FROM {view_name}_malformed ORDER BY line LIMIT 1").fetchone()
        if bad:
            raise RawFormatError(
                path, bad[0], f"{len(RATINGS_COLUMNS)} tab-separated fields", f"{bad[2]} in the line {bad[1]!r}",
                "Fix: restore the file from the official ml-100k zip",
            )
        return view_name

    def _u_data(self) -> _Layout:
        return _Layout(RATINGS_COLUMNS, "\t", encoding=self.encoding)

    def predefined_split_files(self, raw_dir: Path, name: str) -> tuple[Path, Path]:
        """Returns `(base, test)` of a split shipped with ml-100k, e.g. `u1.base`, `u1.test`.

        Args:
            raw_dir: The ml-100k folder.
            name: One of `ML100K_SPLITS` (`u1`..`u5`, `ua`, `ub`).

        Raises:
            ValueError: If `name` is not a shipped split.
            RawFormatError: If one of the two files is missing.
        """
        if name not in ML100K_SPLITS:
            raise ValueError(f"unknown ml-100k split {name!r}; choose one of {ML100K_SPLITS}")
        raw_dir = Path(raw_dir)
        return _require(raw_dir / f"{name}.base"), _require(raw_dir / f"{name}.test")
