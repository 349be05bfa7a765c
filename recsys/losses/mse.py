"""Rating regression on the similarity score, with sampled unobserved items as low ratings."""

from __future__ import annotations

import torch
from torch import nn

from recsys.losses.outputs import TowerLoss, TowerOutputs, float32, negative_scores


class MSELoss(TowerLoss):
    """Squared error between ratings and ratings predicted from the similarity.

    ``pred = min_rating + (max_rating - min_rating) * (bound(s) + 1) / 2`` where
    ``s = similarity.pairwise(user, item)`` and ``bound`` maps the score to [-1, 1]: the
    cosine itself for :class:`~recsys.models.similarity.CosineSimilarity` (its temperature undone),
    ``tanh(s)`` for :class:`~recsys.models.similarity.DotSimilarity`. With the MovieLens scale the
    prediction is ``0.5 + 4.5 * (cos + 1) / 2``.

    The loss is ``mean_b (pred(u_b, i_b) - r_b)^2 + negative_weight * mean_{b,n} (pred(u_b, j_bn) -
    negative_rating)^2`` over the batch's B rated pairs and their N sampled items ``j`` (a sampled
    item equal to the row's positive is left out). Regressing the observed ratings alone fits how
    much a user likes what they chose to rate but never learns that the rest of the catalogue ranks
    below it, so the top-10 is close to random. Treating unobserved items as rated
    ``negative_rating`` with a weight is what PureSVD (missing = 0) and implicit ALS (weighted
    zeros) do; with sampled items the second term is an unbiased estimate of the mean over the
    unobserved catalogue. ``negative_weight = 0`` is the plain regression on observed ratings.
    The unobserved items are the sampler's draws only (uniform by default, as iALS weights every
    missing entry alike): in-batch items follow popularity, and regressing them to a low rating
    would teach the model to rank popular items last.

    Args:
        min_rating: Rating predicted at similarity -1.
        max_rating: Rating predicted at similarity +1.
        negative_sampler: Sampler (``conf/negatives``) for the unobserved items; required when
            ``negative_weight > 0``.
        negative_weight: Weight ``>= 0`` of the unobserved-item term.
        negative_rating: Target rating of an unobserved item, in [min_rating, max_rating];
            ``None`` means ``min_rating``.

    Raises:
        ValueError: ``min_rating >= max_rating``, ``negative_weight < 0``, a ``negative_rating``
            outside the scale, or ``negative_weight > 0`` without a sampler.
    """

    needs_rating = True

    def __init__(
        self,
        min_rating: float = 0.5,
        max_rating: float = 5.0,
        negative_sampler: nn.Module | None = None,
        negative_weight: float = 0.0,
        negative_rating: float | None = None,
    ) -> None:
        super().__init__()
        self.min_rating = float(min_rating)
        self.max_rating = float(max_rating)
        if not self.min_rating < self.max_rating:
            raise ValueError(f"MSELoss: min_rating ({min_rating}) must be < max_rating ({max_rating})")
        self.negative_weight = float(negative_weight)
        if self.negative_weight < 0:
            raise ValueError(f"MSELoss: negative_weight must be >= 0, got {negative_weight}; 0 turns the term off")
        self.negative_rating = self.min_rating if negative_rating is None else float(negative_rating)
        if not self.min_rating <= self.negative_rating <= self.max_rating:
            raise ValueError(
                f"MSELoss: negative_rating ({self.negative_rating}) must lie in [min_rating, max_rating] = "
                f"[{self.min_rating}, {self.max_rating}]"
            )
        if self.negative_weight > 0 and negative_sampler is None:
            raise ValueError(
                "MSELoss: negative_weight > 0 needs a negative_sampler (loss.negative_sampler: ${negatives}); "
                "or set loss.negative_weight=0"
            )
        self.negative_sampler = negative_sampler if self.negative_weight > 0 else None
        # instance attribute: the training step samples negatives only when the term is on
        self.needs_negatives = self.negative_weight > 0

    def predict(self, out: TowerOutputs) -> torch.Tensor:
        """Predicted ratings of the rated pairs (B,)."""
        return self.to_rating(out, out.similarity.pairwise(out.user, out.pos_item))

    def to_rating(self, out: TowerOutputs, score: torch.Tensor) -> torch.Tensor:
        """Ratings predicted from similarity scores of any shape."""
        unit = out.similarity.bound(score)
        return self.min_rating + (self.max_rating - self.min_rating) * (unit + 1.0) / 2.0

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar loss over the batch (computed in float32)."""
        if out.rating is None:
            raise ValueError("MSELoss needs ratings in TowerOutputs.rating")
        with float32(out) as o:
            loss = (self.predict(o) - o.rating).square().mean()
            if self.negative_weight == 0:
                return loss
            if o.neg_item is None:
                raise ValueError("MSELoss with negative_weight > 0 needs negatives in TowerOutputs.neg_item")
            if o.neg_item_idx is None:
                errors = (self.to_rating(o, o.similarity.batched(o.user, o.neg_item)) - self.negative_rating).square()
                return loss + self.negative_weight * errors.mean()
            scores, _, valid = negative_scores(o, in_batch=False)
            errors = (self.to_rating(o, scores) - self.negative_rating).square()
            valid = valid.float()
            return loss + self.negative_weight * (errors * valid).sum() / valid.sum().clamp_min(1.0)
