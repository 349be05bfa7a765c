"""MovieLens-100K's official u1..u5/ua/ub splits: test = the official .test file, val from .base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.process import process_raw, write_split
from recsys.data.readers import ML100K_GENRES, Ml100kReader
from recsys.data.splits import PredefinedFileSplit


def _write_ml100k(raw: Path, n_users: int = 20, n_items: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (u, i, int(rng.integers(1, 6)), 880000000 + u * 1000 + i)
        for u in range(1, n_users + 1)
        for i in rng.choice(np.arange(1, n_items + 1), size=12, replace=False)
    ]
    frame = pd.DataFrame(rows, columns=["u", "i", "r", "t"])
    raw.mkdir(parents=True)
    frame.to_csv(raw / "u.data", sep="\t", header=False, index=False)
    test = frame.groupby("u").head(3)
    frame.drop(test.index).to_csv(raw / "u1.base", sep="\t", header=False, index=False)
    test.to_csv(raw / "u1.test", sep="\t", header=False, index=False)
    lines = []
    for movie in range(1, n_items + 1):
        bits = ["1" if g == movie % len(ML100K_GENRES) else "0" for g in range(len(ML100K_GENRES))]
        lines.append("|".join([str(movie), f"Film {movie} (1994)", "01-Jan-1994", "", "http://x", *bits]))
    (raw / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return test


def test_official_test_file_becomes_the_test_split(tmp_path: Path) -> None:
    raw = tmp_path / "ml-100k"
    official_test = _write_ml100k(raw)
    process_raw(Ml100kReader(), raw, tmp_path / "processed")
    split = PredefinedFileSplit(fold="u1", val_fraction=0.1, seed=0, name="ml100k_u1", raw_dir=str(raw))
    stats = write_split(split, tmp_path / "processed", tmp_path / "split")
    test = pd.read_parquet(tmp_path / "split" / "test.parquet")
    assert set(zip(test.userId, test.movieId)) == set(zip(official_test.u, official_test.i))
    train = pd.read_parquet(tmp_path / "split" / "train.parquet")
    val = pd.read_parquet(tmp_path / "split" / "val.parquet")
    assert len(train) + len(val) == 20 * 12 - len(official_test)
    assert (val.groupby("user_idx").size() == 1).all()  # round(9 * 0.1) = 1 per user
    assert stats["test"]["n_ratings"] == len(official_test)
    assert "raw_dir" not in split.params()  # cache key does not depend on where the files live
