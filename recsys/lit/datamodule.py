"""LightningDataModule feeding batches cut from tensors and evaluation user chunks."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from recsys.data.batches import TensorBatches, UserChunks
from recsys.data.interactions import SplitData
from recsys.evaluation.full_ranking import FullRankingTask


class InteractionDataModule(pl.LightningDataModule):
    """Training ratings as tensors on the training device; validation users in chunks.

    Args:
        data: the loaded split.
        val_task: full-ranking task of the validation split.
        batch_size: training rows per batch and rank.
        seed: base seed of the epoch permutations.
        data_on_device: hold the training tensors on the accelerator (fastest when they fit);
            otherwise they stay on the CPU, pinned, and batches are copied non-blocking.
        eval_chunk_size: users per validation step.
        drop_last: drop the last incomplete training batch.
        min_positive_rating: train only on ratings at or above it (``None``: every rating). Ranking
            losses then learn from liked movies, as evaluation counts them; the excluded and
            history items still include every training rating.
    """

    def __init__(
        self,
        data: SplitData,
        val_task: FullRankingTask | None,
        batch_size: int = 1024,
        seed: int = 0,
        data_on_device: bool = True,
        eval_chunk_size: int = 4096,
        drop_last: bool = True,
        min_positive_rating: float | None = None,
    ) -> None:
        super().__init__()
        self.data = data
        self.val_task = val_task
        self.batch_size = batch_size
        self.seed = seed
        self.data_on_device = data_on_device
        self.eval_chunk_size = eval_chunk_size
        self.drop_last = drop_last
        self.min_positive_rating = min_positive_rating
        self.train_batches: TensorBatches | None = None

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
            raise ValueError(f"no training rating is >= min_positive_rating={self.min_positive_rating}")
        batch_size = min(self.batch_size, max(1, n_rows // max(1, self._world_size())))
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
            world_size=self._world_size(),
            device=device,
            pin_memory=device.type == "cpu",
        )
        return self.train_batches

    def val_dataloader(self) -> UserChunks | list:
        if self.val_task is None:
            return []
        return UserChunks(self.val_task.users, self.eval_chunk_size, rank=self._rank(), world_size=self._world_size())

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1
