"""Base class of the losses that score each positive against sampled (and in-batch) negatives."""

from __future__ import annotations

import math

import torch
from torch import nn

from recsys.losses.outputs import TowerLoss, TowerOutputs, negative_scores


class SampledNegativesLoss(TowerLoss):
    """Holds the sampler, the in-batch option and the log-Q correction shared by BPR and sampled softmax.

    With ``in_batch_negatives`` the candidates of a row come from a mixture: N draws of the sampler
    and the B positives of the batch (popularity, ``q_batch = count / total`` from :meth:`setup`).
    The log-Q correction subtracts from each candidate's logit the log of its expected number of
    draws per row, ``log(N q_sampler(j) + B q_batch(j))``; without in-batch negatives that is
    ``log q_sampler(j)`` up to a constant (Yi et al. 2019; Yang et al. 2020).

    Args:
        negative_sampler: Sampler (``conf/negatives``) with ``sample`` and ``log_q``.
        logq_correction: Subtract the log expected draws from every candidate's logit.
        in_batch_negatives: Append the batch's positives to each row's negatives.
    """

    needs_negatives = True

    def __init__(self, negative_sampler: nn.Module, logq_correction: bool, in_batch_negatives: bool) -> None:
        super().__init__()
        self.negative_sampler = negative_sampler
        self.logq_correction = bool(logq_correction)
        self.in_batch_negatives = bool(in_batch_negatives)
        self.register_buffer("item_log_q", torch.empty(0), persistent=False)

    def setup(self, item_counts: torch.Tensor) -> None:
        """Set up the sampler and ``log q_batch = log(count / total)`` (zero counts act as 1)."""
        super().setup(item_counts)
        counts = torch.as_tensor(item_counts).double().clamp_min(1.0)
        self.item_log_q = (counts / counts.sum()).log().float().to(self.item_log_q.device)

    def log_draws(self, idx: torch.Tensor, out: TowerOutputs) -> torch.Tensor:
        """Log expected draws per row of items ``idx`` (any shape): what the correction subtracts."""
        if not self.in_batch_negatives:
            return self.negative_sampler.log_q(idx)
        if self.item_log_q.numel() == 0:
            raise RuntimeError("in_batch_negatives with logq_correction: call setup(item_counts) first")
        n_sampled = out.neg_item_idx.shape[1] if out.neg_item_idx is not None else 0
        batch = self.item_log_q.to(idx.device)[idx] + math.log(out.pos_item_idx.shape[0])
        if n_sampled == 0:
            return batch
        return torch.logaddexp(self.negative_sampler.log_q(idx) + math.log(n_sampled), batch)

    def candidates(self, out: TowerOutputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(pos (B,), neg (B, C), neg_idx (B, C), valid (B, C))`` similarity scores of every row."""
        if out.neg_item is None or out.neg_item_idx is None:
            raise ValueError(f"{type(self).__name__} needs neg_item and neg_item_idx in TowerOutputs")
        pos = out.similarity.pairwise(out.user, out.pos_item)
        neg, neg_idx, valid = negative_scores(out, self.in_batch_negatives)
        return pos, neg, neg_idx, valid
