from __future__ import annotations

import os
from pathlib import Path

import pytest

from recsys.data.prepare import MovieLensData
from recsys.data.readers import CsvReader
from recsys.data.splits import RandomPerUserSplit, TemporalPerUserSplit


SPLITS = {"random": RandomPerUserSplit(), "temporal_user": TemporalPerUserSplit()}


def _data(raw: Path, root: Path, split: str = "random") -> MovieLensData:
    return MovieLensData(
        name="tiny",
        raw_dir=raw,
        reader=CsvReader(),
        split=SPLITS[split],
        processed_root=root,
        download_hint="Download it with recsys-download",
    )


def test_prepare_caches_by_inputs_and_config(small_raw: Path, tmp_path: Path) -> None:
    first = _data(small_raw, tmp_path / "p").prepare()
    stamp = (first.root / "ratings.parquet").stat().st_mtime_ns
    again = _data(small_raw, tmp_path / "p").prepare()
    assert again == first
    assert (again.root / "ratings.parquet").stat().st_mtime_ns == stamp
    assert "random-" in first.split_dir.name
    assert first.statistics["splits"][first.split_dir.name]["train"]["n_ratings"] > 0
    other = _data(small_raw, tmp_path / "p", "temporal_user").prepare()
    assert other.root == first.root and other.split_dir != first.split_dir
    ratings = small_raw / "ratings.csv"
    ratings.write_text(ratings.read_text() + "1,40,5.0,1600000000\n")
    os.utime(ratings, ns=(1, 1))
    changed = _data(small_raw, tmp_path / "p").prepare()
    assert changed.root != first.root


def test_a_split_name_instead_of_a_split_says_to_use_the_group(small_raw: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data/split=temporal_user"):
        MovieLensData("tiny", small_raw, CsvReader(), "temporal_user", tmp_path)  # type: ignore[arg-type]


def test_same_size_edit_with_mtime_restored_is_reprocessed(small_raw: Path, tmp_path: Path) -> None:
    ratings = small_raw / "ratings.csv"
    first = _data(small_raw, tmp_path / "p").prepare()
    before = ratings.stat()
    text = ratings.read_text()
    edited = text.replace("\n1,", "\n2,", 1)  # one rating moves to another user: same size
    assert edited != text and len(edited) == len(text)
    ratings.write_text(edited)
    os.utime(ratings, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert ratings.stat().st_size == before.st_size and ratings.stat().st_mtime_ns == before.st_mtime_ns
    again = _data(small_raw, tmp_path / "p").prepare()
    assert again.root != first.root
    assert again.statistics["n_ratings"] == first.statistics["n_ratings"]


def test_missing_raw_folder_says_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="recsys-download"):
        _data(tmp_path / "absent", tmp_path).prepare()


def test_bundled_set_statistics(bundled_dataset) -> None:
    stats = bundled_dataset.statistics
    assert stats["n_users"] == 610 and stats["n_movies"] == 9724 and stats["n_ratings"] == 100836
    split = bundled_dataset.split_statistics
    assert split["train"]["n_ratings"] + split["val"]["n_ratings"] + split["test"]["n_ratings"] == 100836


def test_concurrent_processes_prepare_a_data_set_once(small_raw: Path, tmp_path: Path) -> None:
    # as DDP ranks on one node or parallel sweep jobs would: both succeed, one processes, one waits
    import subprocess
    import sys

    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from recsys.data.prepare import MovieLensData; from recsys.data.readers import CsvReader\n"
        "from recsys.data.splits import RandomPerUserSplit\n"
        f"d = MovieLensData(name='tiny', raw_dir={str(small_raw)!r}, reader=CsvReader(), split=RandomPerUserSplit(), "
        f"processed_root={str(tmp_path / 'p')!r}).prepare()\n"
        "print('ROOT', d.root)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum(out.count("processing tiny from") for out in outputs) == 1, outputs
    roots = {line for out in outputs for line in out.splitlines() if line.startswith("ROOT")}
    assert len(roots) == 1
