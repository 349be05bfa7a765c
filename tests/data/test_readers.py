"""Tests for `recsys.data.readers` on tiny files of each MovieLens format."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from recsys.data.readers import (
    ML100K_GENRES,
    CsvReader,
    DatReader,
    Ml100kReader,
    RawFormatError,
)

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "movielens" / "ml-latest-small"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _rows(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple]:
    return con.execute(f"SELECT * EXCLUDE (text, complete) FROM {view} ORDER BY line").fetchall()


def _malformed(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple]:
    return con.execute(f"SELECT line, text, expected, found FROM {view}_malformed ORDER BY line").fetchall()


def _write_csv_set(raw: Path, with_extras: bool = True) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,1\n")
    (raw / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
        '3,"American President, The (1995)",Comedy|Drama\n'
        '7,Misérables (1995),(no genres listed)\n', encoding="utf-8")
    if with_extras:
        (raw / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n3,0112346,\n")
        (raw / "tags.csv").write_text(
            'userId,movieId,tag,timestamp\n2,1,"funny, warm",1445714994\n')
    return raw


def test_csv_reader_views_and_lines(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_csv_set(tmp_path / "ml-latest-small")
    views = CsvReader().register(con, raw)
    assert views == ["raw_ratings", "raw_movies", "raw_links", "raw_tags"]
    ratings = str(raw / "ratings.csv")
    assert _rows(con, "raw_ratings") == [
        (ratings, 2, "1", "1", "4.0", "964982703"),
        (ratings, 3, "1", "3", "4.5", "964981247"),
        (ratings, 4, "2", "1", "0.5", "1"),
    ]
    movies = _rows(con, "raw_movies")
    assert movies[1][1:] == (3, "3", "American President, The (1995)", "Comedy|Drama")
    assert movies[2][3] == "Misérables (1995)"
    assert _rows(con, "raw_links")[1][2:] == ("3", "0112346", None)  # empty field -> NULL
    assert _rows(con, "raw_tags")[0][1:] == (2, "2", "1", "funny, warm", "1445714994")
    types = dict(con.execute(
        "SELECT column_name, column_type FROM (DESCRIBE raw_ratings)"
    ).fetchall())
    assert types == {"file": "VARCHAR", "line": "BIGINT", "text": "VARCHAR", "complete": "BOOLEAN",
                     "userId": "VARCHAR", "movieId": "VARCHAR", "rating": "VARCHAR", "timestamp": "VARCHAR"}
    assert CsvReader().ratings_files(raw) == [raw / "ratings.csv"]


def test_csv_reader_optional_files(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_csv_set(tmp_path / "raw", with_extras=False)
    assert CsvReader().register(con, raw) == ["raw_ratings", "raw_movies"]


def test_csv_wrong_header(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_csv_set(tmp_path / "raw")
    (raw / "ratings.csv").write_text("user,item,rating,timestamp\n1,1,4.0,9\n")
    with pytest.raises(RawFormatError) as info:
        CsvReader().register(con, raw)
    err = info.value
    assert err.path == raw / "ratings.csv" and err.line == 1
    assert "userId,movieId,rating,timestamp" in str(err) and "user,item" in str(err)


def test_csv_wrong_field_count_is_kept_apart_with_line_and_text(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_csv_set(tmp_path / "raw")
    (raw / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat, The (1995),Action\n")
    CsvReader().register(con, raw)  # no abort: validation reports and drops (or fails if strict)
    assert _malformed(con, "raw_movies") == [(3, "2,Heat, The (1995),Action", 3, 4)]
    assert [row[1] for row in _rows(con, "raw_movies")] == [2]


def test_csv_invalid_utf8(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_csv_set(tmp_path / "raw")
    (raw / "movies.csv").write_bytes(
        "movieId,title,genres\n1,Misérables (1995),Drama\n".encode("latin-1"))
    with pytest.raises(RawFormatError, match="line 2") as info:
        CsvReader().register(con, raw)
    assert "utf-8" in str(info.value) and "data.reader.encoding=latin-1" in str(info.value)
    assert "in the line '1,Mis" in str(info.value)  # DuckDB's "Original Line" is kept


def test_missing_file_suggests_download(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(RawFormatError, match="recsys-download --size") as info:
        CsvReader().register(con, tmp_path / "nowhere")
    assert info.value.path == tmp_path / "nowhere" / "ratings.csv"
    assert str(tmp_path / "nowhere" / "ratings.csv") in str(info.value)


def test_dat_reader_latin1(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    (tmp_path / "movies.dat").write_bytes(
        '1::Toy Story (1995)::Animation|Children\'s|Comedy\n'
        '2::Misérables, Les (1995)::Drama|Musical\n'
        '3::"Quoted" Title (1996)::Drama\n'.encode("latin-1"))
    assert DatReader().register(con, tmp_path) == ["raw_ratings", "raw_movies"]
    assert _rows(con, "raw_ratings")[1] == (str(tmp_path / "ratings.dat"), 2, "1", "661", "3",
                                            "978302109")
    titles = con.execute("SELECT title, genres FROM raw_movies ORDER BY line").fetchall()
    assert titles == [("Toy Story (1995)", "Animation|Children's|Comedy"),
                      ("Misérables, Les (1995)", "Drama|Musical"),
                      ('"Quoted" Title (1996)', "Drama")]
    assert DatReader().ratings_files(tmp_path) == [tmp_path / "ratings.dat"]


def test_dat_wrong_field_count(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3\n")
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation\n")
    DatReader().register(con, tmp_path)
    assert _malformed(con, "raw_ratings") == [(2, "1::661::3", 4, 3)]


def _write_ml100k(raw: Path) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    (raw / "u1.base").write_text("1\t1\t5\t874965758\n")
    (raw / "u1.test").write_text("1\t6\t5\t887431973\n2\t1\t4\t888550871\n")
    flags = {1: [3, 4, 5], 2: [0], 3: []}  # genre indices per movie
    titles = {1: "Toy Story (1995)", 2: "Misérables, Les (1995)", 3: "No Genre (1990)"}
    lines = []
    for movie, title in titles.items():
        bits = ["1" if i in flags[movie] else "0" for i in range(len(ML100K_GENRES))]
        lines.append("|".join([str(movie), title, "01-Jan-1995", "", "http://imdb", *bits]))
    (raw / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return raw


def test_ml100k_reader(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_ml100k(tmp_path / "ml-100k")
    reader = Ml100kReader()
    assert reader.register(con, raw) == ["raw_ratings", "raw_movies"]
    assert _rows(con, "raw_ratings")[0] == (str(raw / "u.data"), 1, "196", "242", "3", "881250949")
    movies = con.execute("SELECT line, movieId, title, genres FROM raw_movies ORDER BY line")
    assert movies.fetchall() == [
        (1, "1", "Toy Story (1995)", "Animation|Children's|Comedy"),
        (2, "2", "Misérables, Les (1995)", "unknown"),
        (3, "3", "No Genre (1990)", "(no genres listed)"),
    ]
    assert reader.ratings_files(raw) == [raw / "u.data"]


def test_ml100k_splits(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_ml100k(tmp_path / "ml-100k")
    reader = Ml100kReader()
    base, test = reader.predefined_split_files(raw, "u1")
    assert (base, test) == (raw / "u1.base", raw / "u1.test")
    assert reader.register_file(con, test, "raw_test") == "raw_test"
    assert _rows(con, "raw_test")[1] == (str(test), 2, "2", "1", "4", "888550871")
    with pytest.raises(RawFormatError, match=r"u2\.base"):
        reader.predefined_split_files(raw, "u2")
    with pytest.raises(ValueError, match="u9"):
        reader.predefined_split_files(raw, "u9")
    Ml100kReader(ratings_file="u1.base").register(con, raw)
    assert con.execute("SELECT count(*) FROM raw_ratings").fetchone() == (1,)


def test_ml100k_wrong_field_count(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_ml100k(tmp_path / "ml-100k")
    (raw / "u.data").write_text("196\t242\t3\t881250949\n186 302 3 891717742\n")
    Ml100kReader().register(con, raw)
    assert _malformed(con, "raw_ratings") == [(2, "186 302 3 891717742", 4, 1)]
    (raw / "u1.test").write_text("1\t6\t5\n")  # official split files must be well formed
    with pytest.raises(RawFormatError) as info:
        Ml100kReader().register_file(con, raw / "u1.test", "predefined_test")
    assert info.value.line == 1 and "found 3 in the line" in str(info.value)


def test_insertion_order_is_required(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    raw = _write_csv_set(tmp_path / "raw")
    con.execute("SET preserve_insertion_order = false")
    with pytest.raises(ValueError, match="preserve_insertion_order"):
        CsvReader().register(con, raw)


@pytest.mark.skipif(not (BUNDLED / "ratings.csv").is_file(), reason="bundled set absent")
def test_bundled_latest_small(con: duckdb.DuckDBPyConnection) -> None:
    assert CsvReader().register(con, BUNDLED) == [
        "raw_ratings", "raw_movies", "raw_links", "raw_tags"]
    count, first, last = con.execute(
        "SELECT count(*), min(line), max(line) FROM raw_ratings").fetchone()
    assert (count, first, last) == (100836, 2, 100837)


def test_a_file_larger_than_duckdbs_parallel_buffers_is_read_whole(tmp_path: Path) -> None:
    # DuckDB's parallel CSV reader refused a full read of large files in the one-column line mode
    # ("does not support a full read on this file"): ml-25m-sized files could not be loaded at all
    import duckdb

    from recsys.data.lines import lines_sql

    path = tmp_path / "ratings.csv"
    n = 2_500_000  # about 60 MB
    with path.open("w") as f:
        f.write("userId,movieId,rating,timestamp\n")
        f.writelines(f"{i % 5000 + 1},{i % 9000 + 1},3.5,{964982703 + i}\n" for i in range(n))
    con = duckdb.connect()
    count, last = con.execute(f"SELECT count(*), max(line) FROM ({lines_sql(path, 'utf-8')})").fetchone()
    assert count == last == n + 1
