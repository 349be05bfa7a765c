"""Bayesian personalised ranking with sampled negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.losses.outputs import TowerLoss, TowerOutputs, check_positive, float32


class BPRLoss(TowerLoss):
    """``-log sigmoid((s_pos - s_neg) / temperature)`` averaged over the batch and its N negatives.

    Negatives that happen to equal the positive item are left out of the average.

    The temperature sets the scale the logistic function sees, as in the softmax losses. A bounded
    similarity needs it: a cosine difference lies in [-2, 2], so at ``temperature = 1`` the loss of
    a perfectly ranked pair is still ``-log sigmoid(2) = 0.13`` with gradient weight
    ``sigmoid(-2) = 0.12``, and every pair, however easy, keeps pulling as hard as the few that are
    wrong. Dividing by ``temperature = 0.05`` spreads the difference over [-40, 40], so easy pairs
    saturate and the gradient concentrates on the mis-ranked ones. For an unbounded dot product
    (``model=mf``) the same division multiplies the learning signal, so a temperature there is an
    explicit score scale rather than one the embedding norms must grow to reach.

    Args:
        negative_sampler: Sampler (``conf/negatives``) that the training step uses to fill
            ``TowerOutputs.neg_item``/``neg_item_idx``.
        temperature: Positive divisor of the score difference (1.0 is the textbook BPR).

    Raises:
        ValueError: ``temperature <= 0``.
    """

    needs_negatives = True

    def __init__(self, negative_sampler: nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        self.negative_sampler = negative_sampler
        self.temperature = check_positive("BPRLoss", "temperature", temperature)

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar BPR loss (computed in float32)."""
        if out.neg_item is None:
            raise ValueError("BPRLoss needs negatives in TowerOutputs.neg_item")
        with float32(out) as o:
            pos = o.similarity.pairwise(o.user, o.pos_item)  # (B,)
            neg = o.similarity.batched(o.user, o.neg_item)  # (B, N)
            losses = -F.logsigmoid((pos.unsqueeze(1) - neg) / self.temperature)
            if o.neg_item_idx is None:
                return losses.mean()
            valid = (o.neg_item_idx != o.pos_item_idx.unsqueeze(1)).float()
            return (losses * valid).sum() / valid.sum().clamp_min(1.0)
