"""Issue 8: raw rows that used to be cast, accepted or abort the run are reported with file, line,
field, value and the original text, then dropped (lenient) or fatal (strict)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.process import process_raw
from recsys.data.readers import CsvReader
from recsys.data.validate import DataValidationError
from tests.conftest import write_raw_csv_set

GOOD = ["1,1,4.0,1000", "2,2,3.0,1001"]


def _lenient(tmp_path: Path, ratings: list[str]) -> tuple[dict, pd.DataFrame]:
    raw = write_raw_csv_set(tmp_path / "raw", ratings)
    report = process_raw(CsvReader(), raw, tmp_path / "out", strict=False)
    problems = {(p.check, p.field): p for p in report.problems}
    return problems, pd.read_parquet(tmp_path / "out" / "ratings.parquet")


@pytest.mark.parametrize("value", ["1.7", "1e3", "0x10", "1_000", "-3", "+4", "99999999999999999999"])
@pytest.mark.parametrize("field_name", ["userId", "movieId"])
def test_ids_must_be_plain_non_negative_integers(tmp_path: Path, value: str, field_name: str) -> None:
    row = f"{value},1,4.0,1002" if field_name == "userId" else f"1,{value},4.0,1002"
    problems, ratings = _lenient(tmp_path, [*GOOD, row])
    problem = problems[("non_numeric", field_name)]
    assert problem.lines == [4] and problem.file.endswith("ratings.csv")
    assert problem.examples == [f"line 4: {field_name}={value!r} in {row!r}"]
    assert len(ratings) == 2  # dropped, not cast into user/movie 1, 2, 16 or 1000
    with pytest.raises(DataValidationError, match=re.escape(f"line 4: {field_name}='{value}'")):
        process_raw(CsvReader(), tmp_path / "raw", tmp_path / "strict", strict=True)


@pytest.mark.parametrize(
    ("row", "field_name", "check"),
    [
        ("1,3,4.0,1e9", "timestamp", "non_numeric"),
        ("1,3,4.0,12.5", "timestamp", "non_numeric"),
        ("1,3,3e0,1002", "rating", "non_numeric"),
        ("1,3,0x3,1002", "rating", "non_numeric"),
        ("1,3,2.,1002", "rating", "non_numeric"),
        ("1,3,2.25,1002", "rating", "rating_not_half_star"),
        ("1,3, ,1002", "rating", "null_values"),
    ],
)
def test_timestamps_are_integers_and_ratings_half_stars(tmp_path: Path, row: str, field_name: str, check: str) -> None:
    problems, ratings = _lenient(tmp_path, [*GOOD, row])
    assert problems[(check, field_name)].lines == [4] and len(ratings) == 2


def test_padded_ids_are_trimmed_and_kept(tmp_path: Path) -> None:
    problems, ratings = _lenient(tmp_path, [*GOOD, " 3 , 3 ,4.5, 1002 "])
    assert not problems and sorted(ratings.userId) == [1, 2, 3]


@pytest.mark.parametrize("last", ["1,3,2.5,96498", "1,3,2", "1,3,2.5,"])
def test_a_final_line_without_newline_is_treated_as_truncated(tmp_path: Path, last: str) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", GOOD)
    with (raw / "ratings.csv").open("a") as fh:
        fh.write(last)  # the file ends inside this line: no "\n"
    report = process_raw(CsvReader(), raw, tmp_path / "out", strict=False)
    (problem,) = report.problems
    assert problem.check in {"truncated_last_line", "wrong_field_count"} and problem.lines == [4]
    assert "truncated" in problem.fix or problem.check == "wrong_field_count"
    assert len(pd.read_parquet(tmp_path / "out" / "ratings.parquet")) == 2
    with pytest.raises(DataValidationError, match="line 4"):
        process_raw(CsvReader(), raw, tmp_path / "strict", strict=True)
    with (raw / "ratings.csv").open("a") as fh:
        fh.write("\n")  # a complete line is accepted (when its fields are valid)
    report = process_raw(CsvReader(), raw, tmp_path / "out2", strict=False)
    assert "truncated_last_line" not in report.counts()


def test_wrong_field_count_is_reported_and_dropped_in_lenient_mode(tmp_path: Path) -> None:
    rows = [*GOOD, "1,4,3.0", "1,5,3.0,1003,extra", "3,1,2.0,1004"]
    problems, ratings = _lenient(tmp_path, rows)
    problem = problems[("wrong_field_count", "")]
    assert problem.lines == [4, 5] and problem.count == 2
    assert problem.examples[0] == "line 4: expected 4 fields, found 3 in '1,4,3.0'"
    assert problem.examples[1] == "line 5: expected 4 fields, found 5 in '1,5,3.0,1003,extra'"
    assert sorted(ratings.userId) == [1, 2, 3]
    with pytest.raises(DataValidationError, match="line 4: expected 4 fields, found 3 in '1,4,3.0'"):
        process_raw(CsvReader(), tmp_path / "raw", tmp_path / "strict", strict=True)


def test_line_numbers_are_right_in_mixed_crlf_lf_files(tmp_path: Path) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", GOOD)
    (raw / "ratings.csv").write_bytes(
        b"userId,movieId,rating,timestamp\r\n1,1,4.0,1000\r\n2,2,3.0,1001\n1,3,abc,1002\r\n"
        b"1,4,3.0\n\r\n3,1,2.0,1005\n"
    )
    report = process_raw(CsvReader(), raw, tmp_path / "out2", strict=False)
    problems = {(p.check, p.field): p for p in report.problems}
    assert problems[("non_numeric", "rating")].examples == ["line 4: rating='abc' in '1,3,abc,1002'"]
    assert problems[("wrong_field_count", "")].lines == [5, 6]  # line 6 is blank
    assert sorted(pd.read_parquet(tmp_path / "out2" / "ratings.parquet").userId) == [1, 2, 3]


def test_latin1_movies_csv_with_the_encoding_setting(tmp_path: Path) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", GOOD)
    (raw / "movies.csv").write_bytes(
        "movieId,title,genres\n1,Misérables (1995),Drama\n2,Amélie (2001),Comedy\n".encode("latin-1"))
    process_raw(CsvReader(encoding="latin-1"), raw, tmp_path / "out")
    titles = pd.read_parquet(tmp_path / "out" / "movies.parquet").title.tolist()
    assert titles == ["Misérables", "Amélie"]


@pytest.mark.parametrize("encoding", ["klingon", "cp1252", ""])
def test_unknown_encoding_fails_when_the_reader_is_built(encoding: str) -> None:
    with pytest.raises(ValueError, match="data.reader.encoding=.*Fix: e.g. data.reader.encoding=latin-1"):
        CsvReader(encoding=encoding)


@pytest.mark.parametrize("strict", [False, True])
def test_header_only_ratings_file_says_it_has_no_ratings(tmp_path: Path, strict: bool) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", GOOD)
    (raw / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(DataValidationError) as error:
        process_raw(CsvReader(), raw, tmp_path / "out", strict=strict)
    message = str(error.value)
    assert f"{raw / 'ratings.csv'} has no ratings" in message and "Fix:" in message
    assert "strict" not in message and "lines )" not in message
    assert not (tmp_path / "out").exists()


def test_the_ratings_fast_path_never_accepts_a_row_the_rules_refuse() -> None:
    import itertools

    import duckdb

    from recsys.data.checks import RATINGS_FAST_PATH, first_failure_sql, rating_rules

    ids = ["1", "007", " 3", "1.7", "1e3", "0x10", "1_000", "-3", "", "9" * 18, "9" * 19, "+4"]
    ratings = ["0.5", "1", "1.0", "2.5", "5.0", "5.5", "0", "2.25", "2.", "3.50", " 4", "nan"]
    stamps = ["964982703", "-1", "1.5", "9" * 19, ""]
    con = duckdb.connect()
    rows = [(u, m, r, t, c) for u, m, r, t, c in itertools.product(ids, ids[:4], ratings, stamps, [True, False])]
    con.execute('CREATE TABLE raw ("userId" VARCHAR, "movieId" VARCHAR, rating VARCHAR, "timestamp" VARCHAR, complete BOOLEAN)')
    con.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?)", rows)
    slow, fast = first_failure_sql(rating_rules()), first_failure_sql(rating_rules(), RATINGS_FAST_PATH)
    differ = con.execute(f"SELECT count(*) FROM raw WHERE ({slow}) IS DISTINCT FROM ({fast})").fetchone()[0]
    accepted = con.execute(f"SELECT count(*) FROM raw WHERE ({fast}) IS NULL").fetchone()[0]
    assert differ == 0 and 0 < accepted < len(rows)
