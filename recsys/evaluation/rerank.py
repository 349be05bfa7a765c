"""Re-rankers that trade a little accuracy for catalogue coverage.

Every re-ranker has the same interface: it is told how many candidates to retrieve
(``candidates``), receives each user's candidates sorted by model score, and returns the final
top-k. Evaluation retrieves ``reranker.candidates`` items with the exact top-k (exclusions
applied), gathers their scores and calls ``rerank`` (see ``recsys/evaluation/evaluate.py``).

- :class:`NoRerank`: keeps the model's order (evaluation skips re-ranking altogether).
- :class:`MMRReranker`: maximal marginal relevance (Carbonell & Goldstein 1998) over item
  embeddings, ``lambda * relevance - (1 - lambda) * max cosine similarity to the items chosen``.
- :class:`PopularityPenaltyReranker`: ``score - strength * normalised log popularity``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

_NEG_INF = float("-inf")


@runtime_checkable
class Reranker(Protocol):
    """The interface every re-ranker implements (one constructor shape: settings + ``candidates``)."""

    candidates: int

    def rerank(
        self, candidates: Tensor, scores: Tensor, k: int, item_vectors: Tensor, item_popularity: np.ndarray
    ) -> Tensor:
        """(U, N) candidate catalogue positions sorted by score, their (U, N) scores -> (U, k)."""
        ...


def _check(candidates: Tensor, scores: Tensor, k: int) -> None:
    if candidates.shape != scores.shape or candidates.dim() != 2:
        raise ValueError(f"candidates {tuple(candidates.shape)} and scores {tuple(scores.shape)} must be equal (U, N)")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")


def _pad(top: Tensor, k: int) -> Tensor:
    """Cut or pad (U, n) positions to (U, k) with -1."""
    if top.shape[1] >= k:
        return top[:, :k]
    return torch.nn.functional.pad(top, (0, k - top.shape[1]), value=-1)


def _valid(candidates: Tensor, scores: Tensor) -> Tensor:
    """(U, N) mask of real candidates (not -1 padding, finite score)."""
    return (candidates >= 0) & torch.isfinite(scores)


class NoRerank:
    """The identity: the model's own top-k."""

    def __init__(self, candidates: int = 100) -> None:
        self.candidates = int(candidates)

    def rerank(
        self, candidates: Tensor, scores: Tensor, k: int, item_vectors: Tensor, item_popularity: np.ndarray
    ) -> Tensor:
        """Return the first ``k`` candidates, shape (U, k)."""
        _check(candidates, scores, k)
        return _pad(candidates, k)

    def __repr__(self) -> str:
        return "NoRerank()"


class PopularityPenaltyReranker:
    """Demote popular items: ``score - strength * log1p(pop) / log1p(max pop)``, then re-sort.

    Args:
        strength: weight of the penalty, in score units; 0 keeps the model's order.
        candidates: items retrieved per user before re-ranking.
    """

    def __init__(self, strength: float = 0.1, candidates: int = 100) -> None:
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        self.strength = float(strength)
        self.candidates = int(candidates)

    def rerank(
        self, candidates: Tensor, scores: Tensor, k: int, item_vectors: Tensor, item_popularity: np.ndarray
    ) -> Tensor:
        """Re-rank (U, N) candidate catalogue positions; returns (U, k), -1 padded.

        Args:
            candidates: catalogue positions sorted by descending score, -1 padding.
            scores: their model scores (U, N).
            k: items to return.
            item_vectors: (C, D) catalogue item vectors (unused).
            item_popularity: (C,) training counts of the catalogue items.
        """
        _check(candidates, scores, k)
        log_pop = torch.log1p(torch.as_tensor(np.asarray(item_popularity), dtype=torch.float64))
        norm = log_pop / log_pop.max().clamp(min=1e-12)
        penalty = norm.to(scores.device)[candidates.clamp(min=0)]
        adjusted = scores.double() - self.strength * penalty
        adjusted = adjusted.masked_fill(~_valid(candidates, scores), _NEG_INF)
        # stable sort keeps the model's order among equal adjusted scores
        order = torch.sort(adjusted, dim=1, descending=True, stable=True).indices
        top = candidates.gather(1, order)
        top = top.masked_fill(adjusted.gather(1, order) == _NEG_INF, -1)
        return _pad(top, k)

    def __repr__(self) -> str:
        return f"PopularityPenaltyReranker(strength={self.strength}, candidates={self.candidates})"


class MMRReranker:
    """Maximal marginal relevance over item embeddings, vectorised over users.

    At each of the ``k`` positions every user picks the unpicked candidate maximising
    ``lambda * rel - (1 - lambda) * max_{j picked} cos(item, j)``, where ``rel`` is the model
    score min-max normalised to [0, 1] within the user's candidates (so ``lambda`` is on the same
    scale as the cosine similarity whatever the model's score range). Ties go to the candidate
    ranked higher by the model.

    Args:
        lambda_: relevance weight in [0, 1]; 1 keeps the model's order.
        candidates: items retrieved per user before re-ranking.
    """

    def __init__(self, lambda_: float = 0.8, candidates: int = 100) -> None:
        if not 0.0 <= lambda_ <= 1.0:
            raise ValueError(f"lambda_ must lie in [0, 1], got {lambda_}")
        self.lambda_ = float(lambda_)
        self.candidates = int(candidates)

    @staticmethod
    def _relevance(scores: Tensor, valid: Tensor) -> Tensor:
        """Scores min-max normalised per user over valid candidates, (U, N) in [0, 1]."""
        s = scores.double().masked_fill(~valid, float("nan"))
        lo = torch.where(valid, s, torch.full_like(s, float("inf"))).amin(dim=1, keepdim=True)
        hi = torch.where(valid, s, torch.full_like(s, _NEG_INF)).amax(dim=1, keepdim=True)
        span = (hi - lo).clamp(min=1e-12)
        return ((s - lo) / span).nan_to_num(0.0)

    def rerank(
        self, candidates: Tensor, scores: Tensor, k: int, item_vectors: Tensor, item_popularity: np.ndarray
    ) -> Tensor:
        """Re-rank (U, N) candidate catalogue positions; returns (U, k), -1 padded.

        Args:
            candidates: catalogue positions sorted by descending score, -1 padding.
            scores: their model scores (U, N).
            k: items to return.
            item_vectors: (C, D) catalogue item vectors (compared by cosine similarity).
            item_popularity: (C,) training counts (unused).
        """
        _check(candidates, scores, k)
        n_users, n = candidates.shape
        device = candidates.device
        if self.lambda_ == 1.0 or n == 0:
            return _pad(candidates, k)
        valid = _valid(candidates, scores)
        rel = self._relevance(scores, valid)
        vecs = torch.nn.functional.normalize(item_vectors.double().to(device), dim=1)
        cand_vecs = vecs[candidates.clamp(min=0)]  # (U, N, D)
        max_sim = torch.full((n_users, n), _NEG_INF, dtype=torch.float64, device=device)
        available = valid.clone()
        rows = torch.arange(n_users, device=device)
        out = torch.full((n_users, k), -1, dtype=torch.long, device=device)
        # a tiny rank-based bonus breaks exact ties toward the model's order
        tie = -torch.arange(n, dtype=torch.float64, device=device) * 1e-12
        for pos in range(min(k, n)):
            redundancy = max_sim.clamp(min=-1.0) if pos else torch.zeros_like(max_sim)
            mmr = self.lambda_ * rel - (1.0 - self.lambda_) * redundancy + tie
            mmr = mmr.masked_fill(~available, _NEG_INF)
            best = mmr.argmax(dim=1)  # (U,)
            has = available[rows, best]
            out[:, pos] = torch.where(has, candidates[rows, best], torch.full_like(best, -1))
            available[rows, best] = False
            chosen = cand_vecs[rows, best]  # (U, D)
            sim = torch.einsum("und,ud->un", cand_vecs, chosen)
            max_sim = torch.where(has[:, None], torch.maximum(max_sim, sim), max_sim)
        return out

    def __repr__(self) -> str:
        return f"MMRReranker(lambda_={self.lambda_}, candidates={self.candidates})"
