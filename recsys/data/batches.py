"""Training batches cut from tensors, never from a per-row ``Dataset.__getitem__``.

The whole training split lives in a few tensors (on the GPU when training on one). Each epoch draws
one permutation (seeded by ``seed + epoch``, identical on every rank), each rank takes its own
equal-sized shard of it (DDP), and batches are slices of that shard: one gather per column per
batch, no Python per row.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class TensorBatches:
    """An iterable of ``dict[str, Tensor]`` batches over parallel tensors.

    Args:
        tensors: columns of equal length N (e.g. ``user_idx``, ``item_idx``, ``rating``).
        batch_size: rows per batch (per rank).
        shuffle: draw a new permutation each epoch.
        drop_last: drop the last incomplete batch (keeps batch norm and in-batch softmax stable).
        seed: base seed; epoch ``e`` uses ``seed + e`` so a resumed run sees the same order.
        rank, world_size: this process's shard of every epoch's permutation.
        device: where batches are produced; tensors are moved there once. On a CPU device with
            ``pin_memory`` the columns are pinned so a later ``.to(cuda, non_blocking=True)`` is
            asynchronous.
    """

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
        pin_memory: bool = False,
    ) -> None:
        lengths = {name: int(t.shape[0]) for name, t in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"all columns must have the same length, got {lengths}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device)
        self.tensors = {name: t.to(self.device) for name, t in tensors.items()}
        if pin_memory and self.device.type == "cpu" and torch.cuda.is_available():
            self.tensors = {name: t.pin_memory() for name, t in self.tensors.items()}
        self.n = next(iter(lengths.values()))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    @property
    def rows_per_rank(self) -> int:
        """Rows each rank sees per epoch (equal on every rank, so DDP steps stay in lock-step)."""
        return self.n // self.world_size

    def __len__(self) -> int:
        full, rest = divmod(self.rows_per_rank, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration uses."""
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        if not self.shuffle:
            order = torch.arange(self.n, device=self.device)
        else:
            generator = torch.Generator(device=self.device).manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=generator, device=self.device)
        start = self.rank * self.rows_per_rank
        return order[start : start + self.rows_per_rank]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = self._order()
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield {name: t.index_select(0, index) for name, t in self.tensors.items()}
        self.epoch += 1


class UserChunks:
    """Evaluation batches: this rank's share of ``users`` in chunks of ``chunk_size``.

    Shards are contiguous so every user is evaluated exactly once across ranks.
    """

    def __init__(self, users: torch.Tensor, chunk_size: int, rank: int = 0, world_size: int = 1) -> None:
        shards = torch.tensor_split(users, world_size)
        self.users = shards[rank]
        self.chunk_size = chunk_size

    def __len__(self) -> int:
        return max(1, -(-len(self.users) // self.chunk_size))

    def __iter__(self) -> Iterator[torch.Tensor]:
        if len(self.users) == 0:
            yield self.users
            return
        yield from torch.split(self.users, self.chunk_size)
