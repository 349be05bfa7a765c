"""Bayesian personalised ranking with sampled negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.losses.outputs import TowerOutputs, check_positive, float32
from recsys.losses.sampled import SampledNegativesLoss


class BPRLoss(SampledNegativesLoss):
    """``-log sigmoid(d)`` averaged over every (positive, negative) pair of a row.

    ``d = (s_pos - s_neg) / temperature``, minus ``log q(pos) - log q(neg)`` with ``logq_correction``
    (BPR is the softmax over the two candidates {pos, neg}, so the sampled-softmax correction
    carries over pair by pair). A row's negatives are its N sampled items and, with
    ``in_batch_negatives``, the other positives of the batch; negatives equal to the row's
    positive are left out of the average.

    The temperature sets the scale the logistic function sees, as in the softmax losses. A bounded
    similarity needs it: a cosine difference lies in [-2, 2], so at ``temperature = 1`` the loss of
    a perfectly ranked pair is still ``-log sigmoid(2) = 0.13`` with gradient weight
    ``sigmoid(-2) = 0.12``, and every pair, however easy, keeps pulling as hard as the few that are
    wrong. Dividing by ``temperature = 0.05`` spreads the difference over [-40, 40], so easy pairs
    saturate and the gradient concentrates on the mis-ranked ones. For an unbounded dot product
    (``model=mf``) the same division multiplies the learning signal.

    Uniform negatives are mostly long-tail items that the model separates from any positive within
    an epoch or two; the pairs that decide a top-10 (popular items the user did not pick) are
    rarely drawn. In-batch negatives supply them, but they follow popularity: uncorrected, BPR then
    learns to push popular items down; the log-Q correction removes that bias.

    Args:
        negative_sampler: Sampler (``conf/negatives``) that the training step uses to fill
            ``TowerOutputs.neg_item``/``neg_item_idx``.
        temperature: Positive divisor of the score difference (1.0 is the textbook BPR).
        logq_correction: Subtract the log expected draws of each candidate (see
            :class:`~recsys.losses.sampled.SampledNegativesLoss`); a no-op for uniform negatives
            alone.
        in_batch_negatives: Also pair each positive with the batch's other positives.

    Raises:
        ValueError: ``temperature <= 0``.
    """

    def __init__(
        self,
        negative_sampler: nn.Module,
        temperature: float = 1.0,
        logq_correction: bool = False,
        in_batch_negatives: bool = False,
    ) -> None:
        super().__init__(negative_sampler, logq_correction, in_batch_negatives)
        self.temperature = check_positive("BPRLoss", "temperature", temperature)

    def differences(self, out: TowerOutputs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(d (B, C), valid (B, C))``: the scaled (and corrected) score differences of every pair."""
        pos, neg, neg_idx, valid = self.candidates(out)
        diff = (pos.unsqueeze(1) - neg) / self.temperature
        if self.logq_correction:
            diff = diff - self.log_draws(out.pos_item_idx, out).unsqueeze(1) + self.log_draws(neg_idx, out)
        return diff, valid

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar BPR loss (computed in float32)."""
        if out.neg_item is None:
            raise ValueError("BPRLoss needs negatives in TowerOutputs.neg_item")
        with float32(out) as o:
            if o.neg_item_idx is None:  # nothing to mask or correct
                pos = o.similarity.pairwise(o.user, o.pos_item)
                neg = o.similarity.batched(o.user, o.neg_item)
                return -F.logsigmoid((pos.unsqueeze(1) - neg) / self.temperature).mean()
            diff, valid = self.differences(o)
            valid = valid.float()
            return (-F.logsigmoid(diff) * valid).sum() / valid.sum().clamp_min(1.0)
