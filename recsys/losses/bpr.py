"""Bayesian personalised ranking with sampled negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.losses.outputs import TowerLoss, TowerOutputs, float32


class BPRLoss(TowerLoss):
    """``-log sigmoid(s_pos - s_neg)`` averaged over the batch and its N negatives.

    Negatives that happen to equal the positive item are left out of the average.

    Args:
        negative_sampler: Sampler (``conf/negatives``) that the training step uses to fill
            ``TowerOutputs.neg_item``/``neg_item_idx``.
    """

    needs_negatives = True

    def __init__(self, negative_sampler: nn.Module) -> None:
        super().__init__()
        self.negative_sampler = negative_sampler

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar BPR loss (computed in float32)."""
        if out.neg_item is None:
            raise ValueError("BPRLoss needs negatives in TowerOutputs.neg_item")
        with float32(out) as o:
            pos = o.similarity.pairwise(o.user, o.pos_item)  # (B,)
            neg = o.similarity.batched(o.user, o.neg_item)  # (B, N)
            losses = -F.logsigmoid(pos.unsqueeze(1) - neg)
            if o.neg_item_idx is None:
                return losses.mean()
            valid = (o.neg_item_idx != o.pos_item_idx.unsqueeze(1)).float()
            return (losses * valid).sum() / valid.sum().clamp_min(1.0)
