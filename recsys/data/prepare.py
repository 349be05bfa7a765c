"""A data set as configured in ``conf/data/``: processed once, cached, split on demand.

``MovieLensData`` is what ``conf/data/*.yaml`` instantiate. ``prepare()`` processes the raw files
(unless the cache already holds them) and the chosen split, and returns a
:class:`ProcessedDataset` with the paths. The cache key hashes the raw files' content
(:mod:`recsys.data.fingerprint`), the reader and the settings, so ``python train.py data=X`` needs no separate processing step and a
changed raw file or setting is processed afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.data.fingerprint import folder_digests
from recsys.data.process import RawReader, SplitStrategy, connect, process_raw, write_split
from recsys.data.settings import check_memory_limit
from recsys.utils.staging import sweep_stale
from recsys.utils.atomic import write_json_atomic
from recsys.utils.locks import exclusive_lock

log = logging.getLogger(__name__)

PIPELINE_VERSION = 2  # 2: lines read and checked in SQL (recsys.data.lines, recsys.data.checks)


@dataclass(frozen=True)
class ProcessedDataset:
    """Paths of a processed data set and one of its splits.

    Attributes:
        name: the data set's name (``ml_latest_small``...).
        root: the processed folder (ratings.parquet, movies.parquet, statistics.json...).
        split_dir: the split's folder (train/val/test.parquet, features/, statistics.json).
    """

    name: str
    root: Path
    split_dir: Path

    @property
    def statistics(self) -> dict[str, Any]:
        return json.loads((self.root / "statistics.json").read_text())

    @property
    def split_statistics(self) -> dict[str, Any]:
        return json.loads((self.split_dir / "statistics.json").read_text())


def _fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _describe(obj: Any) -> dict[str, Any]:
    return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}", **dict(sorted(vars(obj).items()))}


class MovieLensData:
    """One MovieLens-format data set and its split, as configured in ``conf/data/<name>.yaml``.

    Args:
        name: the data set's name, used for the cache folder.
        raw_dir: folder with the raw files.
        reader: a reader of the raw format (``recsys.data.readers``).
        split: the split (``recsys.data.splits``), the ``data/split`` config group
            (``python train.py data/split=temporal_user``); its ``name`` names the split folder.
        processed_root: where processed data sets are cached.
        strict: fail on any validation problem instead of dropping bad rows.
        memory_limit: DuckDB memory limit (e.g. ``"4GB"``); it spills to disk beyond it.
        download_hint: shown when the raw folder is missing.

    Raises:
        ValueError: a setting is invalid (checked here, before any data is read).
    """

    def __init__(
        self,
        name: str,
        raw_dir: str | Path,
        reader: RawReader,
        split: SplitStrategy,
        processed_root: str | Path,
        strict: bool = False,
        memory_limit: str | None = None,
        download_hint: str = "",
    ) -> None:
        if not all(hasattr(split, attr) for attr in ("name", "params", "assign")):
            raise ValueError(
                f"data.split={split!r} is not a split: data.split is a config group "
                f"(conf/data/split/<name>.yaml). Fix: choose one with data/split=<name>, e.g. "
                f"data/split=temporal_user (not data.split=temporal_user)"
            )
        if not isinstance(strict, bool):
            raise ValueError(f"data.strict={strict!r} is not true or false. Fix: e.g. data.strict=true")
        check_memory_limit("data.memory_limit", memory_limit)
        self.name = name
        self.raw_dir = Path(raw_dir)
        self.reader = reader
        self.split = split
        self.split_name = split.name
        self.processed_root = Path(processed_root)
        self.strict = strict
        self.memory_limit = memory_limit
        self.download_hint = download_hint

    def raw_fingerprint(self) -> str:
        """Hash of the raw files' content, the reader and the processing settings."""
        if not self.raw_dir.is_dir():
            hint = f" {self.download_hint}" if self.download_hint else ""
            raise FileNotFoundError(f"raw data folder {self.raw_dir} for data set '{self.name}' does not exist.{hint}")
        stats = folder_digests(self.raw_dir)
        settings = {"reader": _describe(self.reader), "strict": self.strict, "version": PIPELINE_VERSION}
        return _fingerprint({"files": stats, "settings": settings})

    def prepare(self) -> ProcessedDataset:
        """Process the raw data and the split if the cache does not hold them yet.

        Holds an exclusive lock on ``<processed_root>/<name>/.lock`` meanwhile, so concurrent
        processes (DDP ranks on one node, parallel sweep jobs) process a data set once: the
        others wait, then find it in the cache.
        """
        root = self.processed_root / self.name / self.raw_fingerprint()
        with exclusive_lock(root.parent / ".lock"):
            return self._prepare(root)

    def _prepare(self, root: Path) -> ProcessedDataset:
        con = None
        if not (root / "statistics.json").exists():
            sweep_stale(root.parent)
            log.info("processing %s from %s into %s", self.name, self.raw_dir, root)
            con = connect(self.memory_limit, temp_dir=self.processed_root / ".duckdb_tmp")
            process_raw(self.reader, self.raw_dir, root, strict=self.strict, con=con)
        split_dir = root / "splits" / f"{self.split_name}-{_fingerprint(self.split.params())}"
        if not (split_dir / "statistics.json").exists():
            sweep_stale(split_dir.parent)
            log.info("writing split %s of %s", self.split_name, self.name)
            con = con or connect(self.memory_limit, temp_dir=self.processed_root / ".duckdb_tmp")
            stats = write_split(self.split, root, split_dir, con=con)
            overall = json.loads((root / "statistics.json").read_text())
            overall.setdefault("splits", {})[split_dir.name] = stats
            write_json_atomic(root / "statistics.json", overall)
        if con is not None:
            con.close()
        return ProcessedDataset(name=self.name, root=root, split_dir=split_dir)


def prepare_dataset(name: str = "ml_latest_small", overrides: list[str] | None = None) -> ProcessedDataset:
    """Compose ``conf/data/<name>.yaml`` (with ``overrides``), instantiate it and prepare it.

    Convenient from notebooks and scripts: ``prepare_dataset("ml_latest_small").root``.
    """
    from hydra.utils import instantiate

    from recsys.utils.compose import compose_config

    cfg = compose_config("train", [f"data={name}", *(overrides or [])])
    return instantiate(cfg.data, _convert_="all").prepare()
