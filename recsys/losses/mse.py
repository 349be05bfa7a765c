"""Rating regression on the similarity score."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys.losses.outputs import TowerLoss, TowerOutputs, float32


class MSELoss(TowerLoss):
    """Mean squared error between the rating and a rating predicted from the similarity.

    ``pred = min_rating + (max_rating - min_rating) * (bound(s) + 1) / 2`` where
    ``s = similarity.pairwise(user, pos_item)`` and ``bound`` maps the score to [-1, 1]: the
    cosine itself for :class:`~recsys.models.similarity.CosineSimilarity` (its temperature undone),
    ``tanh(s)`` for :class:`~recsys.models.similarity.DotSimilarity`. With the MovieLens scale the
    prediction is ``0.5 + 4.5 * (cos + 1) / 2``.

    Args:
        min_rating: Rating predicted at similarity -1.
        max_rating: Rating predicted at similarity +1.
    """

    needs_rating = True

    def __init__(self, min_rating: float = 0.5, max_rating: float = 5.0) -> None:
        super().__init__()
        self.min_rating = float(min_rating)
        self.max_rating = float(max_rating)

    def predict(self, out: TowerOutputs) -> torch.Tensor:
        """Predicted ratings (B,)."""
        unit = out.similarity.bound(out.similarity.pairwise(out.user, out.pos_item))
        return self.min_rating + (self.max_rating - self.min_rating) * (unit + 1.0) / 2.0

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar MSE over the batch (computed in float32)."""
        if out.rating is None:
            raise ValueError("MSELoss needs ratings in TowerOutputs.rating")
        with float32(out) as o:
            return F.mse_loss(self.predict(o), o.rating)
