"""Negative samplers: draw item indices and report the log probability of drawing each item.

Both samplers are ``nn.Module`` s whose tables are non-persistent buffers (they move with the
loss that holds them, are rebuilt by ``setup`` and are not saved in checkpoints). Call
``setup(item_counts)`` with the training interaction counts before sampling.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _check_num_negatives(owner: str, num_negatives: int) -> int:
    if int(num_negatives) != num_negatives or num_negatives < 1:
        raise ValueError(f"{owner}: num_negatives must be an integer >= 1, got {num_negatives}; set negatives.num_negatives")
    return int(num_negatives)


class UniformNegativeSampler(nn.Module):
    """Draws items uniformly from the catalog (with replacement).

    Args:
        num_negatives: Negatives per positive (N >= 1).

    Raises:
        ValueError: ``num_negatives < 1``.
    """

    def __init__(self, num_negatives: int = 4) -> None:
        super().__init__()
        self.num_negatives = _check_num_negatives("UniformNegativeSampler", num_negatives)
        self.num_items = 0

    def setup(self, item_counts: torch.Tensor) -> None:
        """Record the catalog size from ``item_counts`` (I,)."""
        self.num_items = int(torch.as_tensor(item_counts).numel())

    def sample(self, batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Draw negatives; returns LongTensor (batch_size, num_negatives) on ``device``."""
        if self.num_items <= 0:
            raise RuntimeError("call setup(item_counts) before sample()")
        return torch.randint(0, self.num_items, (batch_size, self.num_negatives), device=device)

    def log_q(self, item_idx: torch.Tensor) -> torch.Tensor:
        """Log probability of one draw returning each item; same shape as ``item_idx``."""
        if self.num_items <= 0:
            raise RuntimeError("call setup(item_counts) before log_q()")
        return torch.full(item_idx.shape, -math.log(self.num_items), device=item_idx.device)


class PopularityNegativeSampler(nn.Module):
    """Draws item i with probability proportional to ``count_i ** alpha`` (word2vec's 0.75).

    Sampling is an inverse-CDF ``searchsorted`` on a cumulative table (vectorised, works on CUDA).
    Items with zero count are never drawn.

    Args:
        num_negatives: Negatives per positive (N).
        alpha: Exponent ``>= 0`` of the counts; 0 is uniform over items with a count, 1 follows
            popularity.

    Raises:
        ValueError: ``num_negatives < 1`` or ``alpha < 0``.
    """

    def __init__(self, num_negatives: int = 4, alpha: float = 0.75) -> None:
        super().__init__()
        self.num_negatives = _check_num_negatives("PopularityNegativeSampler", num_negatives)
        if alpha < 0:
            raise ValueError(f"PopularityNegativeSampler: alpha must be >= 0, got {alpha}; set negatives.alpha (0 = uniform)")
        self.alpha = float(alpha)
        self.register_buffer("cdf", torch.empty(0, dtype=torch.float64), persistent=False)
        self.register_buffer("log_probs", torch.empty(0), persistent=False)

    def setup(self, item_counts: torch.Tensor) -> None:
        """Build the sampling table from training counts (I,)."""
        counts = torch.as_tensor(item_counts).double().clamp_min(0)
        weights = torch.where(counts > 0, counts.pow(self.alpha), torch.zeros_like(counts))
        if weights.sum() <= 0:
            raise ValueError("item_counts must contain a positive count")
        probs = weights / weights.sum()
        device = self.cdf.device
        self.cdf = torch.cumsum(probs, 0).to(device)
        self.log_probs = probs.log().float().to(device)

    def sample(self, batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Draw negatives; returns LongTensor (batch_size, num_negatives) on ``device``."""
        if self.cdf.numel() == 0:
            raise RuntimeError("call setup(item_counts) before sample()")
        cdf = self.cdf.to(device) if device is not None else self.cdf
        u = torch.rand(batch_size, self.num_negatives, device=cdf.device, dtype=cdf.dtype) * cdf[-1]
        idx = torch.searchsorted(cdf, u, right=True)
        return idx.clamp_max(cdf.numel() - 1)

    def log_q(self, item_idx: torch.Tensor) -> torch.Tensor:
        """Log probability of one draw returning each item; same shape as ``item_idx``."""
        if self.log_probs.numel() == 0:
            raise RuntimeError("call setup(item_counts) before log_q()")
        return self.log_probs.to(item_idx.device)[item_idx]
