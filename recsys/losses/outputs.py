"""What the training step hands to a loss, and the base class every loss derives from."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TowerOutputs:
    """Embeddings and indices of one training batch.

    Attributes:
        user: User embeddings (B, D).
        pos_item: Embeddings of the positive (rated) items (B, D).
        rating: Ratings (B,) or ``None``; needed by losses that regress ratings.
        pos_item_idx: Item indices of the positives (B,).
        neg_item: Embeddings of sampled negatives (B, N, D) or ``None``; filled when
            ``loss.needs_negatives``.
        neg_item_idx: Indices of the sampled negatives (B, N) or ``None``.
        all_items: Embeddings of the whole catalog (I, D) or ``None``; filled when
            ``loss.needs_all_items``.
        similarity: The model's similarity module (``pairwise``/``matrix``/``batched``/``bound``).
        batch_items: The in-batch candidates (M, D) when they are more than this batch's
            positives: under DDP, every rank's positives (the global batch), filled when
            ``loss.gathers_batch``; ``None``: ``pos_item``.
        batch_item_idx: Their item indices (M,) (``None``: ``pos_item_idx``).
        batch_offset: The candidate row of this batch's first positive (rank x B under DDP).
    """

    user: torch.Tensor
    pos_item: torch.Tensor
    rating: torch.Tensor | None
    pos_item_idx: torch.Tensor
    neg_item: torch.Tensor | None = None
    neg_item_idx: torch.Tensor | None = None
    all_items: torch.Tensor | None = None
    similarity: nn.Module | None = None
    batch_items: torch.Tensor | None = None
    batch_item_idx: torch.Tensor | None = None
    batch_offset: int = 0

    def float(self) -> TowerOutputs:
        """Copy with every floating-point tensor cast to float32 (for bf16/fp16 training)."""
        changes = {
            f.name: getattr(self, f.name).float()
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor) and getattr(self, f.name).is_floating_point()
        }
        return dataclasses.replace(self, **changes)


def check_positive(owner: str, field: str, value: float) -> float:
    """``float(value)`` when it is positive, else a ``ValueError`` naming ``owner.field`` and the fix."""
    value = float(value)
    if not value > 0:
        raise ValueError(f"{owner}: {field} must be > 0, got {value}; set loss.{field} to a positive number")
    return value


def negative_scores(out: TowerOutputs, in_batch: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores of each row's negatives: its sampled items, then (``in_batch``) the batch's positives.

    In-batch negatives cost one (B, B) product and follow the popularity of the training rows,
    so they are the hard negatives that uniform sampling rarely draws (Yang et al. 2020, "Mixed
    negative sampling for learning two-tower neural networks in recommendations").

    Args:
        out: Batch outputs; ``neg_item``/``neg_item_idx`` (B, N, D)/(B, N) may be ``None`` when
            ``in_batch`` is true.
        in_batch: Append the B in-batch positives as candidates of every row.

    Returns:
        ``(scores (B, C), item_idx (B, C), valid (B, C) bool)`` with ``C = N (+ B)``; ``valid``
        is false where a candidate is the row's own positive item (the diagonal, duplicates,
        or a sampled collision).
    """
    scores, idx = [], []
    if out.neg_item is not None:
        if out.neg_item_idx is None:
            raise ValueError("neg_item without neg_item_idx: the loss cannot mask collisions")
        scores.append(out.similarity.batched(out.user, out.neg_item))
        idx.append(out.neg_item_idx)
    if in_batch:
        scores.append(out.similarity.matrix(out.user, out.pos_item))
        idx.append(out.pos_item_idx.unsqueeze(0).expand(out.pos_item_idx.shape[0], -1))
    if not scores:
        raise ValueError("no negatives: TowerOutputs.neg_item is None and in-batch negatives are off")
    item_idx = torch.cat(idx, dim=1)
    return torch.cat(scores, dim=1), item_idx, item_idx != out.pos_item_idx.unsqueeze(1)


@contextlib.contextmanager
def float32(out: TowerOutputs) -> Iterator[TowerOutputs]:
    """Disable autocast and yield ``out`` in float32, so a loss is computed in full precision."""
    with torch.autocast(device_type=out.user.device.type, enabled=False):
        yield out.float()


class TowerLoss(nn.Module):
    """Base class of the two-tower losses.

    Class attributes tell the training step what to put in :class:`TowerOutputs`:
    ``needs_negatives`` (sample ``negative_sampler.sample(B, device)`` and embed them),
    ``needs_all_items`` (embed the whole catalog), ``needs_rating`` (pass ratings),
    ``gathers_batch`` (under DDP, put every rank's positives in ``batch_items``).
    """

    needs_negatives: bool = False
    needs_all_items: bool = False
    needs_rating: bool = False
    gathers_batch: bool = False

    def __init__(self) -> None:
        super().__init__()
        # Replaced by a sampler module in losses that need negatives (nn.Module.__setattr__
        # moves it to _modules); a class attribute here would shadow the registered module.
        self.negative_sampler: nn.Module | None = None

    def setup(self, item_counts: torch.Tensor) -> None:
        """Give the loss (and its negative sampler) the training interaction count of each item.

        Args:
            item_counts: Tensor (I,) of training interactions per item.
        """
        if self.negative_sampler is not None:
            self.negative_sampler.setup(item_counts)

    def forward(self, out: TowerOutputs) -> torch.Tensor:  # pragma: no cover - abstract
        """Return the scalar loss of a batch."""
        raise NotImplementedError
