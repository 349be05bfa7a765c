"""Similarity functions shared by the two-tower model, its losses and retrieval.

Every similarity offers the same four views of one score so that a loss, the evaluator and an
inner-product index (FAISS, Qdrant) always agree:

* ``pairwise(a (B,D), b (B,D)) -> (B,)``: row i of ``a`` against row i of ``b``;
* ``matrix(a (B,D), b (M,D)) -> (B,M)``: every row of ``a`` against every row of ``b``;
* ``batched(a (B,D), b (B,N,D)) -> (B,N)``: row i of ``a`` against its own N candidates;
* ``prepare(x) -> x``: the vector to index, such that ``prepare(a) @ prepare(b).T`` ranks items
  exactly as ``matrix(a, b)`` does (a positive scale such as a temperature does not change ranks).

``bound(score)`` maps a score to [-1, 1] (used by the rating-regression loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CosineSimilarity(nn.Module):
    """Cosine similarity divided by a temperature.

    Args:
        temperature: Positive divisor of the cosine (1.0 leaves the score in [-1, 1]). The losses
            carry their own ``temperature`` (the scale their softmax or sigmoid sees), so this one
            stays 1.0 in ``conf/model/two_tower.yaml``: the two would multiply.
        eps: Lower bound on vector norms, avoids division by zero.

    Raises:
        ValueError: ``temperature <= 0``.
    """

    def __init__(self, temperature: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(
                f"CosineSimilarity: temperature must be > 0, got {temperature}; set "
                "model.similarity.temperature to a positive number (1.0 keeps the cosine)"
            )
        self.temperature = float(temperature)
        self.eps = float(eps)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalise vectors for inner-product retrieval.

        Args:
            x: Tensor of shape (..., D).

        Returns:
            Tensor of shape (..., D) with unit rows.
        """
        return F.normalize(x, dim=-1, eps=self.eps)

    def pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Score (B, D) against (B, D) row by row; returns (B,)."""
        return (self.prepare(a) * self.prepare(b)).sum(-1) / self.temperature

    def matrix(
        self, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Score (B, D) against (M, D); returns ``scale * scores + bias`` of shape (B, M).

        ``scale`` and ``bias`` (broadcastable to (B, M)) are fused into one matrix product, so
        a softmax loss over a large (B, M) matrix makes one pass instead of three.
        """
        alpha = scale / self.temperature
        if bias is None:
            return torch.mm(self.prepare(a), self.prepare(b).T) * alpha
        return torch.addmm(bias, self.prepare(a), self.prepare(b).T, alpha=alpha)

    def batched(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Score (B, D) against per-row candidates (B, N, D); returns (B, N)."""
        return torch.einsum("bd,bnd->bn", self.prepare(a), self.prepare(b)) / self.temperature

    def bound(self, score: torch.Tensor) -> torch.Tensor:
        """Map a score back to the cosine in [-1, 1] (undoes the temperature)."""
        return (score * self.temperature).clamp(-1.0, 1.0)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`pairwise`."""
        return self.pairwise(a, b)


class DotSimilarity(nn.Module):
    """Plain inner product (matrix factorisation style); ``prepare`` is the identity."""

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` unchanged (shape (..., D))."""
        return x

    def pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Score (B, D) against (B, D) row by row; returns (B,)."""
        return (a * b).sum(-1)

    def matrix(
        self, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Score (B, D) against (M, D); returns ``scale * scores + bias`` of shape (B, M)."""
        if bias is None:
            return torch.mm(a, b.T) * scale if scale != 1.0 else a @ b.T
        return torch.addmm(bias, a, b.T, alpha=scale)

    def batched(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Score (B, D) against per-row candidates (B, N, D); returns (B, N)."""
        return torch.einsum("bd,bnd->bn", a, b)

    def bound(self, score: torch.Tensor) -> torch.Tensor:
        """Squash an unbounded dot product to (-1, 1) with ``tanh``."""
        return torch.tanh(score)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`pairwise`."""
        return self.pairwise(a, b)
