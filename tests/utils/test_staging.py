"""Temporary folders carry their owner; a sweep removes only those whose owner died on this host."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys.utils import atomic, staging
from recsys.data.prepare import MovieLensData
from recsys.data.readers import CsvReader
from recsys.data.splits import RandomPerUserSplit


def _folder(parent: Path, pid: int, host: str | None = None, age_s: float = 3600) -> Path:
    path = parent / f".abc123.tmp-{host or staging._host()}-{pid}-0123abcd"
    path.mkdir(parents=True)
    (path / "ratings.parquet").write_bytes(b"x" * 1000)
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: the PID is free
    return child.pid


@pytest.fixture
def alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def test_sweep_removes_dead_owners_and_keeps_live_ones(tmp_path: Path, alive: int) -> None:
    dead = _folder(tmp_path, _dead_pid())
    live = _folder(tmp_path, alive)
    mine = _folder(tmp_path, os.getpid())
    other_host = _folder(tmp_path, _dead_pid(), host="elsewhere")
    fresh = _folder(tmp_path, _dead_pid(), age_s=0)  # PID gone but just written: too young
    legacy = tmp_path / ".abc123.tmp-89abcdef"
    legacy.mkdir()
    final = tmp_path / "abc123"
    final.mkdir()
    assert staging.sweep_stale(tmp_path, min_age_s=60) == [dead]
    assert not dead.exists()
    assert all(p.exists() for p in (live, mine, other_host, fresh, legacy, final))


def test_atomic_directory_names_its_owner(tmp_path: Path) -> None:
    with atomic.atomic_directory(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".out.tmp-{staging._host()}-{os.getpid()}-")
        assert staging.sweep_stale(tmp_path, min_age_s=0) == []  # its own live folder survives
        (tmp / "a.txt").write_text("a")
    assert (tmp_path / "out" / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_prepare_sweeps_what_a_killed_run_left(small_raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "DEFAULT_MIN_AGE_S", 0.0)
    monkeypatch.setattr(staging.sweep_stale, "__defaults__", (0.0,))
    left = _folder(tmp_path / "p" / "tiny", _dead_pid())
    MovieLensData("tiny", small_raw, CsvReader(), RandomPerUserSplit(), tmp_path / "p").prepare()
    assert not left.exists()
