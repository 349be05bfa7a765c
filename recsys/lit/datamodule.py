"""LightningDataModule: the processed split, training batches cut from tensors, evaluation users.

``prepare_data`` processes the raw files (DuckDB, cached by content hash); Lightning calls it on
one process per node, and the processing itself holds a file lock, so concurrent processes (ranks
started by ``torchrun`` or ``srun``, which each run ``train()``, and parallel sweep jobs) never
process the same data set twice: the first processes, the others wait and read the cache.
``setup`` loads the split; ``train_dataloader`` gives each rank its slice of every global batch.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_info

from recsys.data.batches import TensorBatches, UserChunks
from recsys.data.interactions import SplitData
from recsys.evaluation.evaluate import build_task
from recsys.evaluation.full_ranking import FullRankingTask
from recsys.evaluation.protocol import EvaluationProtocol
from recsys.training.build import ConfigError, load_split


class InteractionDataModule(pl.LightningDataModule):
    """Training ratings as tensors on the training device; evaluation users in chunks.

    Args:
        data: ``conf/data`` node (processed in ``prepare_data``, loaded in ``setup``).
        protocol: the evaluation protocol (``conf/eval``) that builds the val and test tasks.
        batch_size: training rows per batch and rank (positive; Lightning's convention). Under DDP the
            global batch is ``world_size * batch_size`` and step i trains on exactly the rows a
            single process with that batch sees at its step i; to keep a one-device run's global
            batch G on W processes, set ``batch_size=G/W``.
        seed: base seed of the epoch permutations.
        data_on_device: hold the training tensors on the accelerator (fastest when they fit);
            otherwise they stay on the CPU, pinned, and batches are copied non-blocking.
        drop_last: drop the last incomplete training batch.
        min_positive_rating: train only on ratings at or above it (``None``: every rating). Ranking
            losses then learn from liked movies, as evaluation counts them; the excluded and
            history items still include every training rating.
        split_data: an already loaded split (skips ``prepare_data`` and loading).
    """

    def __init__(
        self,
        data: DictConfig | None,
        protocol: EvaluationProtocol | None = None,
        batch_size: int = 1024,
        seed: int = 0,
        data_on_device: bool = True,
        drop_last: bool = True,
        min_positive_rating: float | None = None,
        split_data: SplitData | None = None,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}; set e.g. batch_size=1024")
        if min_positive_rating is not None and not isinstance(min_positive_rating, (int, float)):
            raise ConfigError(f"min_positive_rating must be a number or null, got {min_positive_rating!r}")
        if data is None and split_data is None:
            raise ConfigError("InteractionDataModule needs the data config or a loaded split")
        self.data_cfg = data
        self.protocol = protocol if protocol is not None else EvaluationProtocol()
        self.batch_size = batch_size
        self.seed = int(seed)
        self.data_on_device = bool(data_on_device)
        self.drop_last = bool(drop_last)
        self.min_positive_rating = min_positive_rating
        self.data: SplitData | None = split_data
        self.train_batches: TensorBatches | None = None
        self._tasks: dict[str, FullRankingTask] = {}

    def prepare_data(self) -> None:
        """Process the raw files into the cache (one process per node; locked, so also safe across jobs)."""
        if self.data is None:
            instantiate(self.data_cfg, _convert_="all").prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.data is None:
            self.data = load_split(self.data_cfg)

    def task(self, split: str) -> FullRankingTask:
        """The full-ranking task of ``split`` ("val" or "test"), built once."""
        if split not in self._tasks:
            self.setup()
            self._tasks[split] = build_task(self.data, split, self.protocol)
        return self._tasks[split]

    def _device(self) -> torch.device:
        if self.trainer is None:
            return torch.device("cpu")
        return self.trainer.strategy.root_device

    def train_dataloader(self) -> TensorBatches:
        train = self.data.train
        keep = slice(None) if self.min_positive_rating is None else train.rating >= self.min_positive_rating
        device = self._device() if self.data_on_device else torch.device("cpu")
        n_rows = len(train.user_idx[keep])
        if n_rows == 0:
            raise ConfigError(f"no training rating is >= min_positive_rating={self.min_positive_rating}; lower it or set it to null")
        world_size = self._world_size()
        batch_size = min(self.batch_size, max(1, n_rows // world_size))  # at least one step per epoch
        if world_size > 1:
            rank_zero_info(f"batch_size={batch_size} rows per rank x {world_size} ranks: global batch {batch_size * world_size}")
        self.train_batches = TensorBatches(
            {
                "user_idx": torch.from_numpy(train.user_idx[keep]),
                "item_idx": torch.from_numpy(train.item_idx[keep]),
                "rating": torch.from_numpy(train.rating[keep]),
            },
            batch_size=batch_size,
            shuffle=True,
            drop_last=self.drop_last,
            seed=self.seed,
            rank=self._rank(),
            world_size=world_size,
            device=device,
            pin_memory=device.type == "cpu",
        )
        return self.train_batches

    def _users(self, split: str) -> UserChunks:
        # not sharded: every rank embeds every user, so every rank computes the same metrics
        return UserChunks(self.task(split).users, self.protocol.chunk_size)

    def val_dataloader(self) -> UserChunks:
        return self._users("val")

    def test_dataloader(self) -> UserChunks:
        return self._users("test")

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1
