from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from recsys.data.process import process_raw, write_split
from recsys.data.readers import CsvReader
from recsys.data.splits import (
    GlobalTemporalSplit,
    LeaveLastOutSplit,
    RandomPerUserSplit,
    TemporalPerUserSplit,
)


@pytest.fixture
def processed(small_raw: Path, tmp_path: Path) -> Path:
    out = tmp_path / "processed"
    process_raw(CsvReader(), small_raw, out)
    return out


def _read(split_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(split_dir / f"{name}.parquet") for name in ("train", "val", "test")}


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame.user_idx, frame.item_idx))


@pytest.mark.parametrize(
    "split",
    [RandomPerUserSplit(), TemporalPerUserSplit(), GlobalTemporalSplit(), LeaveLastOutSplit()],
    ids=lambda s: s.name,
)
def test_split_is_a_disjoint_partition(split, processed: Path, tmp_path: Path) -> None:
    stats = write_split(split, processed, tmp_path / "split")
    parts = _read(tmp_path / "split")
    ratings = pd.read_parquet(processed / "ratings.parquet")
    assert sum(len(p) for p in parts.values()) == len(ratings)
    assert not (_pairs(parts["train"]) & _pairs(parts["test"]))
    assert not (_pairs(parts["val"]) & _pairs(parts["test"]))
    assert stats["train"]["n_ratings"] == len(parts["train"])
    assert (tmp_path / "split" / "features" / "users.parquet").exists()


def test_random_split_fractions_per_user_and_seeds(processed: Path, tmp_path: Path) -> None:
    write_split(RandomPerUserSplit(seed=1), processed, tmp_path / "a")
    write_split(RandomPerUserSplit(seed=1), processed, tmp_path / "b")
    write_split(RandomPerUserSplit(seed=2), processed, tmp_path / "c")
    a, b, c = _read(tmp_path / "a"), _read(tmp_path / "b"), _read(tmp_path / "c")
    assert _pairs(a["test"]) == _pairs(b["test"])
    assert _pairs(a["test"]) != _pairs(c["test"])
    per_user = a["test"].groupby("user_idx").size()
    assert (per_user == 3).all()  # 15 ratings each: round(15 * 0.2) = 3 test
    assert (a["val"].groupby("user_idx").size() == 1).all()  # round(12 * 0.1) = 1 val


def test_temporal_per_user_keeps_each_users_latest_ratings_for_test(processed: Path, tmp_path: Path) -> None:
    write_split(TemporalPerUserSplit(), processed, tmp_path / "s")
    parts = _read(tmp_path / "s")
    last_train = parts["train"].groupby("user_idx").timestamp.max()
    first_test = parts["test"].groupby("user_idx").timestamp.min()
    assert (first_test >= last_train.reindex(first_test.index)).all()


def test_global_temporal_cuts_once_for_everybody(processed: Path, tmp_path: Path) -> None:
    write_split(GlobalTemporalSplit(test_fraction=0.2, val_fraction=0.1), processed, tmp_path / "s")
    parts = _read(tmp_path / "s")
    assert parts["test"].timestamp.min() >= parts["val"].timestamp.max()
    assert parts["val"].timestamp.min() >= parts["train"].timestamp.max()
    assert len(parts["test"]) == round(450 * 0.2)


def test_leave_last_out_holds_one_rating_per_user(processed: Path, tmp_path: Path) -> None:
    write_split(LeaveLastOutSplit(), processed, tmp_path / "s")
    parts = _read(tmp_path / "s")
    assert (parts["test"].groupby("user_idx").size() == 1).all()
    assert parts["test"].user_idx.nunique() == 30


def test_bad_fractions_are_rejected() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        RandomPerUserSplit(test_fraction=1.5)


def test_empty_test_split_is_a_clear_error(processed: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="test part"):  # 15 ratings a user: round(15 * 0.01) = 0
        write_split(RandomPerUserSplit(test_fraction=0.01), processed, tmp_path / "s")
    assert not (tmp_path / "s").exists()
