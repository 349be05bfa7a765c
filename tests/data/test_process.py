from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.process import process_raw
from recsys.data.readers import CsvReader
from recsys.data.validate import DataValidationError
from tests.conftest import write_raw_csv_set

DIRTY = [
    "1,1,4.0,1000",  # line 2
    "1,2,abc,1001",  # line 3: non numeric rating
    "1,3,7.5,1002",  # line 4: out of range
    "2,1,3.0,1003",  # line 5
    "2,1,5.0,1009",  # line 6: duplicate of line 5, later -> kept
    "2,99,4.0,1004",  # line 7: unknown movie
    "3,,4.0,1005",  # line 8: null movieId
    "3,5,0.5,1006",  # line 9
    "3,4,2.5,1007",  # line 10
]


def test_clean_set_becomes_typed_parquet(small_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = process_raw(CsvReader(), small_raw, out)
    assert report.ok
    ratings = pd.read_parquet(out / "ratings.parquet")
    assert len(ratings) == 30 * 15
    assert sorted(ratings["user_idx"].unique()) == list(range(30))
    assert ratings["item_idx"].max() + 1 == ratings["item_idx"].nunique()
    movies = pd.read_parquet(out / "movies.parquet")
    assert {"item_idx", "movieId", "title", "year", "genres"} <= set(movies.columns)
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["n_ratings"] == 450 and stats["n_users"] == 30
    assert 0 < stats["sparsity"] < 1
    assert abs(stats["avg_rating"] - ratings["rating"].mean()) < 1e-6


def test_titles_years_and_genres_are_parsed(tmp_path: Path) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", ["1,1,4,10", "1,3,4,11", "1,4,3,12"])
    process_raw(CsvReader(), raw, tmp_path / "out")
    movies = pd.read_parquet(tmp_path / "out" / "movies.parquet").set_index("movieId")
    assert movies.loc[1, "title"] == "Toy Story" and movies.loc[1, "year"] == 1995
    assert movies.loc[3, "title"] == "Lord of the Rings, The" and movies.loc[3, "year"] == 1978
    assert pd.isna(movies.loc[4, "year"]) and list(movies.loc[4, "genres"]) == []
    assert list(movies.loc[1, "genres"]) == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert pd.isna(movies.loc[2, "item_idx"])  # never rated: in the catalogue file, no index


def test_lenient_mode_drops_and_reports_every_problem_with_lines(tmp_path: Path) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", DIRTY)
    report = process_raw(CsvReader(), raw, tmp_path / "out", strict=False)
    by_check = {p.check: p for p in report.problems}
    assert by_check["non_numeric"].lines == [3]
    assert by_check["rating_out_of_range"].lines == [4]
    assert by_check["unknown_movie"].lines == [7]
    assert by_check["null_values"].lines == [8]
    assert by_check["duplicate_pairs"].count == 1 and by_check["duplicate_pairs"].lines == [5]
    assert all(p.file.endswith("ratings.csv") for p in report.problems)
    ratings = pd.read_parquet(tmp_path / "out" / "ratings.parquet")
    assert len(ratings) == 4
    assert ratings.loc[(ratings.userId == 2) & (ratings.movieId == 1), "rating"].item() == 5.0
    saved = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert saved["counts"]["non_numeric"] == 1 and saved["rows_out"]["ratings"] == 4


def test_strict_mode_fails_with_file_line_and_fix_and_keeps_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = write_raw_csv_set(tmp_path / "good", ["1,1,4.0,1000", "2,2,3.0,1000"])
    process_raw(CsvReader(), good, out)
    before = (out / "ratings.parquet").read_bytes()
    bad = write_raw_csv_set(tmp_path / "bad", DIRTY)
    with pytest.raises(DataValidationError) as error:
        process_raw(CsvReader(), bad, out, strict=True)
    message = str(error.value)
    assert "ratings.csv" in message and "line 4: rating='7.5' in '1,3,7.5,1002'" in message
    assert "rating_out_of_range" in message
    assert "Fix:" in message
    assert (out / "ratings.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_no_valid_rating_is_an_error(tmp_path: Path) -> None:
    raw = write_raw_csv_set(tmp_path / "raw", ["1,1,9.0,1000"])
    with pytest.raises(DataValidationError, match="none of its 1 rating row"):
        process_raw(CsvReader(), raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()
