"""Softmax (retrieval) losses: in-batch, sampled and full-catalog.

Logits are ``similarity / temperature``; with log-Q correction each candidate's logit is reduced
by ``log q`` (the log probability that the candidate was drawn), which removes the popularity bias
of the sampling (Yi et al., 2019, "Sampling-bias-corrected neural modeling"). Each loss exposes
``logits(out) -> (B, C)`` (column 0 or the diagonal is the positive, masked entries are ``-inf``)
so the correction and masks can be inspected; ``forward`` is the cross-entropy over them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.losses.outputs import TowerLoss, TowerOutputs, check_positive, float32
from recsys.losses.sampled import SampledNegativesLoss


class InBatchSoftmaxLoss(TowerLoss):
    """Each user's positive against the other positives of the batch.

    ``logits[i, j] = s(user_i, item_j) / temperature - log q(item_j)`` with
    ``q = count / total`` (the probability that an item appears as an in-batch positive, set by
    :meth:`setup`); copies of the row's own positive item other than itself are masked to
    ``-inf``; labels are ``arange(B)``. The candidates are ``out.batch_items`` when set (under
    DDP, the positives of every rank: the global batch, ``gathers_batch``), with row i's own
    positive at ``batch_offset + i``.

    Args:
        temperature: Positive divisor of the similarity (ValueError otherwise).
        logq_correction: Subtract ``log q`` of each in-batch item (requires :meth:`setup`).
    """

    gathers_batch = True

    def __init__(self, temperature: float = 0.05, logq_correction: bool = True) -> None:
        super().__init__()
        self.temperature = check_positive(type(self).__name__, "temperature", temperature)
        self.logq_correction = bool(logq_correction)
        self.register_buffer("item_log_q", torch.empty(0), persistent=False)

    def setup(self, item_counts: torch.Tensor) -> None:
        """Set ``log q = log(count / total)`` from training counts (I,) (zero counts act as 1)."""
        counts = torch.as_tensor(item_counts).double().clamp_min(1.0)
        self.item_log_q = (counts / counts.sum()).log().float().to(self.item_log_q.device)

    def logits(self, out: TowerOutputs) -> torch.Tensor:
        """Corrected and masked logits (B, M); row i's positive is column ``batch_offset + i``."""
        items = out.pos_item if out.batch_items is None else out.batch_items
        idx = out.pos_item_idx if out.batch_item_idx is None else out.batch_item_idx
        bias = None
        if self.logq_correction:
            if self.item_log_q.numel() == 0:
                raise RuntimeError("logq_correction=True: call setup(item_counts) first")
            bias = -self.item_log_q.to(idx.device)[idx].unsqueeze(0)
        # One fused pass for similarity / temperature - log q: the (B, M) matrix dominates the step.
        logits = out.similarity.matrix(out.user, items, scale=1.0 / self.temperature, bias=bias)
        same = out.pos_item_idx.unsqueeze(1) == idx.unsqueeze(0)
        same.diagonal(out.batch_offset).fill_(False)  # each row's own positive stays
        return logits.masked_fill_(same, float("-inf"))

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar cross-entropy (computed in float32)."""
        with float32(out) as o:
            logits = self.logits(o)
            labels = torch.arange(logits.shape[0], device=logits.device) + o.batch_offset
            return F.cross_entropy(logits, labels)


class SampledSoftmaxLoss(SampledNegativesLoss):
    """Each user's positive against N sampled negatives (and, optionally, the in-batch positives).

    ``logits = [s(u, pos), s(u, neg_1..N)] / temperature - log q([pos, neg_1..N])`` with ``q`` the
    sampler's draw probability (as in ``tf.nn.sampled_softmax_loss``, the positive is corrected
    too); negatives equal to the positive are masked to ``-inf``; the label is column 0.

    With ``in_batch_negatives`` the batch's B positives are appended as candidates (mixed negative
    sampling, Yang et al. 2020): uniform draws alone are long-tail items that the model separates
    from any positive within an epoch, while in-batch items follow popularity and are the hard
    negatives. Each candidate j is then corrected by the log of its expected number of draws,
    ``log(N q_sampler(j) + B q_batch(j))`` (see :class:`~recsys.losses.sampled.SampledNegativesLoss`).

    Args:
        negative_sampler: Sampler (``conf/negatives``) with ``log_q``.
        temperature: Positive divisor of the similarity (ValueError otherwise).
        logq_correction: Subtract the log draw probability (requires :meth:`setup` with
            ``in_batch_negatives``).
        in_batch_negatives: Append the batch's positives to each row's candidates.
    """

    def __init__(
        self,
        negative_sampler: nn.Module,
        temperature: float = 0.05,
        logq_correction: bool = True,
        in_batch_negatives: bool = False,
    ) -> None:
        super().__init__(negative_sampler, logq_correction, in_batch_negatives)
        self.temperature = check_positive(type(self).__name__, "temperature", temperature)

    def logits(self, out: TowerOutputs) -> torch.Tensor:
        """Corrected and masked logits (B, 1 + N (+ B)); column 0 holds the positives."""
        pos, neg, neg_idx, valid = self.candidates(out)
        logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / self.temperature
        if self.logq_correction:
            idx = torch.cat([out.pos_item_idx.unsqueeze(1), neg_idx], dim=1)
            logits = logits - self.log_draws(idx, out).to(logits.dtype)
        mask = torch.cat([torch.zeros_like(valid[:, :1]), ~valid], dim=1)
        return logits.masked_fill(mask, float("-inf"))

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar cross-entropy (computed in float32)."""
        with float32(out) as o:
            logits = self.logits(o)
            labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
            return F.cross_entropy(logits, labels)


class FullSoftmaxLoss(TowerLoss):
    """Each user's positive against the whole catalog ``out.all_items`` (I, D).

    With ``logit_adjustment = tau > 0`` the training logits get ``+ tau * log prior(item)`` (the
    item's share of training positives, set by :meth:`setup`), as in Menon et al. (2021), "Long-tail
    learning via logit adjustment": the prior explains part of each positive during training, so
    the learned similarity (used alone at retrieval) carries less popularity and ranks more of
    the long tail. ``tau = 0`` is the plain softmax.

    Args:
        temperature: Positive divisor of the similarity (ValueError otherwise).
        logit_adjustment: Weight ``tau >= 0`` of the log popularity prior added during training.
    """

    needs_all_items = True

    def __init__(self, temperature: float = 0.05, logit_adjustment: float = 0.0) -> None:
        super().__init__()
        if logit_adjustment < 0:
            raise ValueError(f"logit_adjustment must be >= 0, got {logit_adjustment}")
        self.temperature = check_positive(type(self).__name__, "temperature", temperature)
        self.logit_adjustment = float(logit_adjustment)
        self.register_buffer("item_log_prior", torch.empty(0), persistent=False)

    def setup(self, item_counts: torch.Tensor) -> None:
        """Set ``log prior = log(count / total)`` from training counts (I,) (zero counts act as 1)."""
        super().setup(item_counts)
        counts = torch.as_tensor(item_counts).double().clamp_min(1.0)
        self.item_log_prior = (counts / counts.sum()).log().float().to(self.item_log_prior.device)

    def logits(self, out: TowerOutputs) -> torch.Tensor:
        """Logits (B, I) over the catalog (with the prior added when ``logit_adjustment > 0``)."""
        if out.all_items is None:
            raise ValueError("FullSoftmaxLoss needs TowerOutputs.all_items")
        bias = None
        if self.logit_adjustment > 0:
            if self.item_log_prior.numel() != out.all_items.shape[0]:
                raise RuntimeError("logit_adjustment > 0: call setup(item_counts) with one count per item first")
            bias = self.logit_adjustment * self.item_log_prior.to(out.all_items.device).unsqueeze(0)
        return out.similarity.matrix(out.user, out.all_items, scale=1.0 / self.temperature, bias=bias)

    def forward(self, out: TowerOutputs) -> torch.Tensor:
        """Scalar cross-entropy with ``pos_item_idx`` as labels (computed in float32)."""
        with float32(out) as o:
            return F.cross_entropy(self.logits(o), o.pos_item_idx)
