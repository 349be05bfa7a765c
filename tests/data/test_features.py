from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.features import write_features
from recsys.data.process import connect, process_raw, write_split
from recsys.data.readers import CsvReader
from recsys.data.splits import RandomPerUserSplit


@pytest.fixture
def split_dir(small_raw: Path, tmp_path: Path) -> tuple[Path, Path]:
    processed = tmp_path / "processed"
    process_raw(CsvReader(), small_raw, processed)
    write_split(RandomPerUserSplit(), processed, tmp_path / "split")
    return processed, tmp_path / "split"


def test_features_use_the_training_split_only(split_dir: tuple[Path, Path], tmp_path: Path) -> None:
    processed, original = split_dir
    tampered = tmp_path / "tampered"
    shutil.copytree(original, tampered)
    shutil.rmtree(tampered / "features")
    for name in ("val", "test"):
        frame = pd.read_parquet(tampered / f"{name}.parquet")
        frame["rating"] = 0.5  # wildly different held-out ratings
        frame["timestamp"] = frame["timestamp"] + 10**8
        frame.to_parquet(tampered / f"{name}.parquet", index=False)
    write_features(connect(), tampered, processed / "movies.parquet")
    for table in ("users", "items", "interactions_train"):
        before = pd.read_parquet(original / "features" / f"{table}.parquet")
        after = pd.read_parquet(tampered / "features" / f"{table}.parquet")
        pd.testing.assert_frame_equal(before, after)


def test_user_and_item_features_match_pandas(split_dir: tuple[Path, Path]) -> None:
    _, split = split_dir
    train = pd.read_parquet(split / "train.parquet")
    users = pd.read_parquet(split / "features" / "users.parquet").set_index("user_idx")
    expected = train.groupby("user_idx").rating.agg(["mean", "std", "count", "min", "max"])
    np.testing.assert_allclose(users["rating_mean"], expected["mean"], rtol=1e-5)
    np.testing.assert_allclose(users["rating_std"], expected["std"], rtol=1e-4)
    np.testing.assert_array_equal(users["rating_count"], expected["count"])
    np.testing.assert_allclose(users["rating_range"], expected["max"] - expected["min"])
    assert users["top_genres"].map(len).max() <= 3
    assert (users["days_since_last"] >= 0).all()
    items = pd.read_parquet(split / "features" / "items.parquet").set_index("item_idx")
    counts = train.groupby("item_idx").size()
    np.testing.assert_array_equal(items.loc[counts.index, "rating_count"], counts)
    np.testing.assert_allclose(items.loc[counts.index, "log_popularity"], np.log1p(counts), rtol=1e-6)


def test_interaction_features_z_score_with_train_statistics(split_dir: tuple[Path, Path]) -> None:
    _, split = split_dir
    test = pd.read_parquet(split / "test.parquet")
    users = pd.read_parquet(split / "features" / "users.parquet").set_index("user_idx")
    inter = pd.read_parquet(split / "features" / "interactions_test.parquet")
    merged = inter.merge(test, on=["user_idx", "item_idx"])
    stats = users.loc[merged.user_idx]
    expected = (merged.rating.to_numpy() - stats.rating_mean.to_numpy()) / stats.rating_std.to_numpy()
    np.testing.assert_allclose(merged.rating_z, expected, rtol=1e-5)
    assert merged.day_of_week.between(0, 6).all() and merged.hour.between(0, 23).all()
    ts = pd.to_datetime(merged.timestamp, unit="s")
    np.testing.assert_array_equal(merged.hour, ts.dt.hour)
