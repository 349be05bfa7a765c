"""The global batch's positives on every DDP rank, for in-batch losses.

Under DDP each rank holds a slice of the global batch (rank r: rows ``r*B .. (r+1)*B``). An
in-batch softmax over the rank's own B positives trains a different model than one process
with the global batch, where each row competes with all ``W*B`` positives. Gathering every
rank's positive item vectors (with their gradients: ``torch.distributed.nn.functional.all_gather``
sends each rank the gradient its items received from every rank's rows) gives each row the
global candidates, so DDP's averaged gradient is the single process's gradient.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn


@torch.compiler.disable  # a collective: run eagerly, a graph break under compile_step
def gather_batch_items(items: torch.Tensor, item_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Every rank's positives, in rank order.

    Args:
        items: this rank's positive item vectors (B, D); every rank must hold the same B (the
            datamodule gives every rank equal batches).
        item_idx: their item indices (B,).

    Returns:
        ``(items (W*B, D), item_idx (W*B,), offset)``: the gathered vectors (differentiable),
        their indices, and the row of this rank's first positive in them (``rank * B``).
    """
    world_size, rank = dist.get_world_size(), dist.get_rank()
    gathered = torch.cat(dist_fn.all_gather(items), dim=0)
    indices = [torch.empty_like(item_idx) for _ in range(world_size)]
    dist.all_gather(indices, item_idx.contiguous())
    return gathered, torch.cat(indices), rank * items.shape[0]


__all__ = ["gather_batch_items"]
