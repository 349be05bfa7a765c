"""Weighted sum of rating regression and pairwise ranking."""

from __future__ import annotations

import torch
from torch import nn

from recsys.losses.bpr import BPRLoss
from recsys.losses.mse import MSELoss
from recsys.losses.outputs import TowerLoss, TowerOutputs


class CombinedLoss(TowerLoss):
    """``mse_weight * MSELoss + bpr_weight * BPRLoss``, both on the same sampled negatives.

    Args:
        mse_weight: Weight ``>= 0`` of the rating regression.
        bpr_weight: Weight ``>= 0`` of the ranking term.
        negative_sampler: Sampler for the negatives (required; keyword for Hydra).
        min_rating: Passed to :class:`MSELoss`.
        max_rating: Passed to :class:`MSELoss`.
        temperature: Passed to :class:`BPRLoss`.
        negative_weight: Passed to :class:`MSELoss` (weight of unobserved items regressed to
            ``negative_rating``).
        negative_rating: Passed to :class:`MSELoss`.
        logq_correction: Passed to :class:`BPRLoss`.
        in_batch_negatives: Passed to :class:`BPRLoss` (the MSE part regresses the sampled items
            only: popularity-drawn items regressed to a low rating would teach it to rank popular
            items last).

    Raises:
        ValueError: no sampler, a negative weight or both weights zero, or an invalid option of
            either part.
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
        temperature: float = 1.0,
        negative_weight: float = 0.0,
        negative_rating: float | None = None,
        logq_correction: bool = False,
        in_batch_negatives: bool = False,
    ) -> None:
        super().__init__()
        if negative_sampler is None:
            raise ValueError("CombinedLoss needs a negative_sampler (loss.negative_sampler: ${negatives})")
        self.mse_weight = float(mse_weight)
        self.bpr_weight = float(bpr_weight)
        if self.mse_weight < 0 or self.bpr_weight < 0 or self.mse_weight + self.bpr_weight == 0:
            raise ValueError(
                f"CombinedLoss: mse_weight ({mse_weight}) and bpr_weight ({bpr_weight}) must be >= 0 and not both 0"
            )
        self.mse = MSELoss(min_rating, max_rating, negative_sampler, negative_weight, negative_rating)
        self.bpr = BPRLoss(negative_sampler, temperature, logq_correction, in_batch_negatives)
        self.negative_sampler = self.bpr.negative_sampler

    def setup(self, item_counts: torch.Tensor) -> None:
        """Set up the sampler and the BPR part's in-batch log-Q table from counts (I,)."""
        self.bpr.setup(item_counts)

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar weighted loss."""
        return self.mse_weight * self.mse(out) + self.bpr_weight * self.bpr(out)
