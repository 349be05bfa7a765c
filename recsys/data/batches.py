"""Training batches cut from tensors, never from a per-row ``Dataset.__getitem__``.

The whole training split lives in a few tensors (on the GPU when training on one). Each epoch draws
one permutation (seeded by ``seed + epoch``, identical on every rank) and cuts it into global
batches of ``world_size * batch_size`` rows; rank ``r`` takes the ``r``-th ``batch_size`` slice of
each. So DDP step ``i`` trains on exactly the rows a single process with batch
``world_size * batch_size`` sees at its step ``i``: with a loss that is a mean over rows, DDP's
gradient average is that single process's gradient. One gather per column per batch, no Python
per row.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class TensorBatches:
    """An iterable of ``dict[str, Tensor]`` batches over parallel tensors.

    Batch ``i`` of rank ``r`` holds rows ``order[i*G + r*B : i*G + (r+1)*B]`` of the epoch's
    permutation ``order``, with ``B = batch_size`` (per rank) and ``G = world_size * B`` (the
    global batch). Every rank yields the same number of equal-sized batches, so DDP steps stay in
    lock-step. The tail of ``n mod G`` rows is dropped with ``drop_last``; otherwise it is one more
    step in which each rank takes ``(n mod G) // world_size`` rows (the last ``(n mod G) mod
    world_size`` rows of the epoch are left out, and no step is added when that share is 0).

    Args:
        tensors: columns of equal length N (e.g. ``user_idx``, ``item_idx``, ``rating``).
        batch_size: rows per batch and rank (Lightning's convention: the global batch is
            ``world_size * batch_size``).
        shuffle: draw a new permutation each epoch.
        drop_last: drop the last incomplete global batch (keeps batch norm and in-batch softmax stable).
        seed: base seed; epoch ``e`` uses ``seed + e`` so a resumed run sees the same order.
        rank, world_size: this process's slice of every global batch.
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
        if world_size <= 0 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
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
    def global_batch_size(self) -> int:
        """Rows of one step over all ranks: ``world_size * batch_size``."""
        return self.world_size * self.batch_size

    def _tail_per_rank(self) -> int:
        """Rows each rank takes from the last, incomplete global batch (0: no such step)."""
        return 0 if self.drop_last else (self.n % self.global_batch_size) // self.world_size

    @property
    def rows_per_rank(self) -> int:
        """Rows each rank sees per epoch (equal on every rank)."""
        return (self.n // self.global_batch_size) * self.batch_size + self._tail_per_rank()

    def __len__(self) -> int:
        return self.n // self.global_batch_size + (1 if self._tail_per_rank() else 0)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration uses."""
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        """The epoch's permutation of all N rows (the same on every rank)."""
        if not self.shuffle:
            return torch.arange(self.n, device=self.device)
        generator = torch.Generator(device=self.device).manual_seed(self.seed + self.epoch)
        return torch.randperm(self.n, generator=generator, device=self.device)

    def _slices(self) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` in the epoch's permutation of this rank's batch at each step."""
        full, size = self.n // self.global_batch_size, self.batch_size
        for step in range(full):
            start = step * self.global_batch_size + self.rank * size
            yield start, start + size
        tail = self._tail_per_rank()
        if tail:
            start = full * self.global_batch_size + self.rank * tail
            yield start, start + tail

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = self._order()
        for start, stop in self._slices():
            index = order[start:stop]
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
