"""Train/validation/test splits, computed in DuckDB SQL.

Every split class has the same shape: constructed from its Hydra config (one YAML per split in
``conf/data/split/``, chosen with ``data/split=<name>``), it checks its settings, exposes ``name``
(the processed split folder is ``<name>-<hash of params()>``),
``params()`` (what the cache key hashes) and ``assign(con, source)`` which returns a SQL query
selecting every row of ``source`` plus a ``split`` column with ``train``, ``val`` or ``test``.
Random choices come from DuckDB's ``hash`` of (user, item, seed), so a seed always gives the same
split of the same data (for a given DuckDB version).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from recsys.data.settings import check_fraction, check_int


def _check_fractions(test_fraction: float, val_fraction: float) -> None:
    check_fraction("data.split.test_fraction", test_fraction, 0.2)
    check_fraction("data.split.val_fraction", val_fraction, 0.1)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"data.split.name={name!r} must be a non-empty folder-safe name (letters, digits, "
                         f"_ . -): it names the processed split folder. Fix: e.g. data.split.name=random")


def _per_user_rank_split(source: str, order_by: str, test_fraction: float, val_fraction: float) -> str:
    """Rank each user's rows by ``order_by``; the first ranks go to test, then val, rest train."""
    return f"""
        SELECT * EXCLUDE (k, n),
          CASE WHEN k <= round(n * {test_fraction}) THEN 'test'
               WHEN k <= round(n * {test_fraction}) + round((n - round(n * {test_fraction})) * {val_fraction})
                 THEN 'val'
               ELSE 'train' END AS split
        FROM (
          SELECT *, row_number() OVER w AS k, count(*) OVER w AS n
          FROM {source}
          -- one window (one sort) for both: row_number ignores the frame, count sees the partition
          WINDOW w AS (PARTITION BY user_idx ORDER BY {order_by}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        )
    """


@dataclass(frozen=True)
class RandomPerUserSplit:
    """Per user, a random ``test_fraction`` of ratings to test, ``val_fraction`` of the rest to val."""

    test_fraction: float = 0.2
    val_fraction: float = 0.1
    seed: int = 0
    name: str = "random"

    def __post_init__(self) -> None:
        _check_fractions(self.test_fraction, self.val_fraction)
        check_int("data.split.seed", self.seed, 0)
        _check_name(self.name)

    def params(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, **asdict(self)}

    def assign(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        order = f"hash(user_idx, item_idx, {int(self.seed)}), item_idx"
        return _per_user_rank_split(source, order, self.test_fraction, self.val_fraction)


@dataclass(frozen=True)
class TemporalPerUserSplit:
    """Per user, the latest ``test_fraction`` of ratings to test, the next latest to val."""

    test_fraction: float = 0.2
    val_fraction: float = 0.1
    name: str = "temporal_user"

    def __post_init__(self) -> None:
        _check_fractions(self.test_fraction, self.val_fraction)
        _check_name(self.name)

    def params(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, **asdict(self)}

    def assign(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        order = "timestamp DESC, item_idx DESC"
        return _per_user_rank_split(source, order, self.test_fraction, self.val_fraction)


@dataclass(frozen=True)
class LeaveLastOutSplit:
    """Per user, the last ``n_test`` ratings to test and the ``n_val`` before them to val.

    Users with fewer than ``n_test + n_val + 1`` ratings keep everything in train.
    """

    n_test: int = 1
    n_val: int = 1
    name: str = "leave_last_out"

    def __post_init__(self) -> None:
        check_int("data.split.n_test", self.n_test, 1, minimum=1)
        check_int("data.split.n_val", self.n_val, 1, minimum=1)
        _check_name(self.name)

    def params(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, **asdict(self)}

    def assign(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        held = self.n_test + self.n_val
        return f"""
            SELECT * EXCLUDE (k, n),
              CASE WHEN n <= {held} THEN 'train'
                   WHEN k <= {self.n_test} THEN 'test'
                   WHEN k <= {held} THEN 'val' ELSE 'train' END AS split
            FROM (
              SELECT *, row_number() OVER (PARTITION BY user_idx ORDER BY timestamp DESC, item_idx DESC) AS k,
                     count(*) OVER (PARTITION BY user_idx) AS n
              FROM {source}
            )
        """


@dataclass(frozen=True)
class GlobalTemporalSplit:
    """One cut in time for everybody: the latest ``test_fraction`` of all ratings are test.

    Validation is the latest ``val_fraction`` of what remains. Users first seen after the cut are
    cold-start users by construction, as in a real deployment.
    """

    test_fraction: float = 0.2
    val_fraction: float = 0.1
    name: str = "temporal_global"

    def __post_init__(self) -> None:
        _check_fractions(self.test_fraction, self.val_fraction)
        _check_name(self.name)

    def params(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, **asdict(self)}

    def assign(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        n = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
        n_test = round(n * self.test_fraction)
        n_val = round((n - n_test) * self.val_fraction)
        return f"""
            SELECT * EXCLUDE (k),
              CASE WHEN k <= {n_test} THEN 'test' WHEN k <= {n_test + n_val} THEN 'val'
                   ELSE 'train' END AS split
            FROM (SELECT *, row_number() OVER (ORDER BY timestamp DESC, user_idx DESC, item_idx DESC) AS k
                  FROM {source})
        """


@dataclass(frozen=True)
class PredefinedFileSplit:
    """MovieLens-100K's official splits (``u1``..``u5``, ``ua``, ``ub``).

    Test is the official ``<name>.test`` file; the official ``<name>.base`` is split again at
    random per user into train and val (``val_fraction``), so tuning never sees the test file.
    Ratings of the processed set that are in neither file are dropped from the split.
    """

    fold: str = "u1"
    val_fraction: float = 0.1
    seed: int = 0
    name: str = "ml100k_u1"
    raw_dir: str = ""

    def __post_init__(self) -> None:
        from recsys.data.readers import ML100K_SPLITS

        if self.fold not in ML100K_SPLITS:
            raise ValueError(f"data.split.fold={self.fold!r} is not an official ml-100k split; choose "
                             f"one of {', '.join(ML100K_SPLITS)}. Fix: e.g. data/split=ml100k_u1")
        check_fraction("data.split.val_fraction", self.val_fraction, 0.1)
        check_int("data.split.seed", self.seed, 0)
        _check_name(self.name)
        if not self.raw_dir:
            raise ValueError("data.split.raw_dir is empty: the official split files live in the ml-100k "
                             "folder. Fix: data.split.raw_dir=${data.raw_dir} (as in conf/data/split/ml100k_u1.yaml)")

    def params(self) -> dict[str, Any]:
        params = asdict(self)
        params.pop("raw_dir")
        return {"kind": type(self).__name__, **params}

    def assign(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        from recsys.data.readers import Ml100kReader

        reader = Ml100kReader()
        base, test = reader.predefined_split_files(Path(self.raw_dir), self.fold)
        reader.register_file(con, test, "predefined_test")
        reader.register_file(con, base, "predefined_base")
        marked = f"""
            SELECT s.*, CASE WHEN t.userId IS NOT NULL THEN 'test' ELSE 'base' END AS origin
            FROM {source} s
            LEFT JOIN (SELECT DISTINCT CAST(userId AS BIGINT) AS userId, CAST(movieId AS BIGINT) AS movieId
                       FROM predefined_test) t USING (userId, movieId)
            WHERE t.userId IS NOT NULL OR (s.userId, s.movieId) IN
              (SELECT (CAST(userId AS BIGINT), CAST(movieId AS BIGINT)) FROM predefined_base)
        """
        base_split = _per_user_rank_split(
            f"({marked}) WHERE origin = 'base'",
            f"hash(user_idx, item_idx, {int(self.seed)}), item_idx",
            0.0,
            self.val_fraction,
        )
        return f"""
            SELECT * EXCLUDE (origin) FROM ({base_split})
            UNION ALL
            SELECT * EXCLUDE (origin), 'test' AS split FROM ({marked}) WHERE origin = 'test'
        """
