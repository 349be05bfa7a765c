"""The ``data=synthetic`` option: generate MovieLens-25M-shaped raw files once, then process them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from recsys.data.prepare import MovieLensData, ProcessedDataset
from recsys.data.process import RawReader, SplitStrategy
from recsys.synthetic.generator import SyntheticConfig, generate_synthetic
from recsys.data.settings import check_int
from recsys.utils.atomic import atomic_directory
from recsys.utils.staging import sweep_stale

log = logging.getLogger(__name__)


class SyntheticData(MovieLensData):
    """A synthetic data set generated into ``raw_root/<config hash>`` on first use.

    Args:
        generator: the generator's configuration (sizes, seed, shape).
        raw_root: where generated raw folders are kept.
        Other arguments as :class:`recsys.data.prepare.MovieLensData`.
    """

    def __init__(
        self,
        name: str,
        generator: SyntheticConfig,
        raw_root: str | Path,
        reader: RawReader,
        split: SplitStrategy,
        processed_root: str | Path,
        strict: bool = False,
        memory_limit: str | None = None,
        chunk_users: int = 8192,
    ) -> None:
        check_int("data.chunk_users", chunk_users, 8192, minimum=1)
        params = json.dumps({**dataclasses.asdict(generator), "chunk_users": chunk_users}, sort_keys=True, default=str)
        digest = hashlib.sha256(params.encode()).hexdigest()[:12]
        super().__init__(
            name=name,
            raw_dir=Path(raw_root) / f"{name}-{digest}",
            reader=reader,
            split=split,
            processed_root=processed_root,
            strict=strict,
            memory_limit=memory_limit,
        )
        self.generator = generator
        self.chunk_users = chunk_users

    def generate(self) -> Path:
        """Generate the raw files if this configuration has none yet; returns ``raw_dir``."""
        if not (self.raw_dir / "ratings.csv").exists():
            log.info("generating synthetic data into %s", self.raw_dir)
            sweep_stale(self.raw_dir.parent)
            with atomic_directory(self.raw_dir) as tmp:
                generate_synthetic(self.generator, tmp, chunk_users=self.chunk_users)
        return self.raw_dir

    def prepare(self) -> ProcessedDataset:
        """Generate the raw files if this configuration has none yet, then process them."""
        self.generate()
        return super().prepare()
