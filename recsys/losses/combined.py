"""Weighted sum of rating regression and pairwise ranking."""

from __future__ import annotations

import torch
from torch import nn

from recsys.losses.bpr import BPRLoss
from recsys.losses.mse import MSELoss
from recsys.losses.outputs import TowerLoss, TowerOutputs


class CombinedLoss(TowerLoss):
    """``mse_weight * MSELoss + bpr_weight * BPRLoss``.

    Args:
        mse_weight: Weight of the rating regression.
        bpr_weight: Weight of the ranking term.
        negative_sampler: Sampler for the BPR negatives (required; keyword for Hydra).
        min_rating: Passed to :class:`MSELoss`.
        max_rating: Passed to :class:`MSELoss`.
    """

    needs_negatives = True
    needs_rating = True

    def __init__(
        self,
        mse_weight: float = 0.7,
        bpr_weight: float = 0.3,
        negative_sampler: nn.Module | None = None,
        min_rating: float = 0.5,
        max_rating: float = 5.0,
    ) -> None:
        super().__init__()
        if negative_sampler is None:
            raise ValueError("CombinedLoss needs a negative_sampler (conf/negatives)")
        self.mse_weight = float(mse_weight)
        self.bpr_weight = float(bpr_weight)
        self.mse = MSELoss(min_rating, max_rating)
        self.bpr = BPRLoss(negative_sampler)
        self.negative_sampler = self.bpr.negative_sampler

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar weighted loss."""
        return self.mse_weight * self.mse(out) + self.bpr_weight * self.bpr(out)
