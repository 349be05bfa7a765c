"""Re-rankers that trade a little accuracy for catalogue coverage.

Every re-ranker has the same interface: it is told how many candidates to retrieve
(``candidates``), receives every evaluated user's candidates sorted by model score (one call,
users in a fixed order), and returns the final top-k. Evaluation retrieves
``reranker.candidates`` items with the exact top-k (exclusions applied), gathers their scores
and calls ``rerank`` (see ``recsys/evaluation/evaluate.py``).

- :class:`NoRerank`: keeps the model's order (evaluation skips re-ranking altogether).
- :class:`MMRReranker`: maximal marginal relevance (Carbonell & Goldstein 1998) over item
  embeddings, ``lambda * relevance - (1 - lambda) * max cosine similarity to the items chosen``.
  It diversifies each list; it raises catalogue coverage only as a side effect.
- :class:`PopularityPenaltyReranker`: ``score - strength * normalised log popularity``.
- :class:`CoverageReranker`: greedy across users, a bonus for items no earlier user was shown;
  it targets catalogue coverage (Coverage@K) directly.
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

    def __init__(self, lambda_: float = 0.8, candidates: int = 100, chunk_users: int = 1024) -> None:
        if not 0.0 <= lambda_ <= 1.0:
            raise ValueError(f"lambda_ must lie in [0, 1], got {lambda_}")
        self.lambda_ = float(lambda_)
        self.candidates = int(candidates)
        self.chunk_users = int(chunk_users)  # users at once: MMR holds (chunk, N, D) vectors

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
        if self.lambda_ == 1.0 or candidates.shape[1] == 0:
            return _pad(candidates, k)
        parts = [
            self._rerank_chunk(candidates[i : i + self.chunk_users], scores[i : i + self.chunk_users], k, item_vectors)
            for i in range(0, candidates.shape[0], self.chunk_users)
        ]
        return torch.cat(parts) if parts else torch.full((0, k), -1, dtype=torch.long)

    def _rerank_chunk(self, candidates: Tensor, scores: Tensor, k: int, item_vectors: Tensor) -> Tensor:
        n_users, n = candidates.shape
        device = candidates.device
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


class CoverageReranker:
    """Catalogue-coverage re-ranking across users: reward items that no other user is shown.

    Objective, over all users at once: ``sum of score / gap of every shown item + bonus * number
    of distinct items shown``, where a user's shown items are their top ``cutoff`` and ``gap`` is
    the median over users of (1st - ``cutoff``-th candidate score; the 2nd when cutoff is 1), so
    ``bonus`` is unit-free (``bonus = 1``: an item nobody else is shown is worth one typical
    top-``cutoff`` score spread). Coordinate ascent from the model's own lists: users in the given
    order (evaluation passes them sorted by user index, so the result does not depend on chunking)
    each pick the best ``cutoff`` items for the objective given everyone else's current lists
    (``score / gap + bonus`` for an item no other user is shown, ``score / gap`` otherwise). Each
    step raises the objective or keeps it, so the result never scores below the model's own
    lists, and more passes never score lower. The picked items are then listed in
    the model's order (so the strongest stay on top, where NDCG weighs most), followed by the
    remaining candidates in the model's order up to ``k``.

    Unlike a popularity penalty it spends accuracy only where coverage is gained: a popular item
    stays in a list unless an item nobody else is shown comes within ``bonus`` of it. One small
    numpy step per user and pass (timed in ``recsys-bench-rerank``); a service would keep the
    shown counts as per-item exposure.

    Args:
        bonus: reward (in median score gaps) for an item no other user is shown; 0 keeps the order.
        cutoff: list length whose items count as shown (the K of the Coverage@K to raise).
        passes: coordinate-ascent passes over the users.
        candidates: items retrieved per user before re-ranking.
    """

    def __init__(self, bonus: float = 1.0, cutoff: int = 10, passes: int = 3, candidates: int = 100) -> None:
        if bonus < 0:
            raise ValueError(f"bonus must be >= 0, got {bonus}")
        if cutoff <= 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        if passes <= 0:
            raise ValueError(f"passes must be positive, got {passes}")
        self.bonus = float(bonus)
        self.cutoff = int(cutoff)
        self.passes = int(passes)
        self.candidates = int(candidates)

    def score_gap(self, scores: Tensor, valid: Tensor) -> float:
        """Median over users of (1st - cutoff-th valid candidate score, at least the 2nd); 1.0 if undefined."""
        n = min(max(self.cutoff, 2), scores.shape[1])
        enough = valid[:, :n].all(dim=1) if n else torch.zeros(scores.shape[0], dtype=torch.bool)
        if n < 2 or not bool(enough.any()):
            return 1.0
        gaps = (scores[enough, 0] - scores[enough, n - 1]).double()
        gap = float(torch.quantile(gaps, 0.5))  # interpolated median
        return gap if gap > 1e-12 else 1.0

    def objective(self, candidates: Tensor, scores: Tensor, top: Tensor) -> float:
        """The quantity the coordinate ascent raises, for (U, >= cutoff) lists ``top``."""
        valid = _valid(candidates, scores)
        gap = self.score_gap(scores, valid)
        shown = top[:, : self.cutoff]
        hit = (candidates.unsqueeze(2) == shown.unsqueeze(1)) & (shown.unsqueeze(1) >= 0)  # (U, N, cutoff)
        picked = hit.any(dim=2) & valid
        relevance = (scores.double() / gap).masked_fill(~picked, 0.0).sum()
        distinct = torch.unique(shown[shown >= 0]).numel()
        return float(relevance) + self.bonus * distinct

    def rerank(
        self, candidates: Tensor, scores: Tensor, k: int, item_vectors: Tensor, item_popularity: np.ndarray
    ) -> Tensor:
        """Re-rank (U, N) candidate catalogue positions; returns (U, k), -1 padded.

        Args:
            candidates: catalogue positions sorted by descending score, -1 padding.
            scores: their model scores (U, N).
            k: items to return.
            item_vectors: (C, D) catalogue item vectors (used for the catalogue size only).
            item_popularity: (C,) training counts (unused).
        """
        _check(candidates, scores, k)
        if self.bonus == 0.0 or candidates.shape[1] == 0:
            return _pad(candidates, k)
        valid = _valid(candidates, scores)
        relevance = (scores.double() / self.score_gap(scores, valid)).masked_fill(~valid, _NEG_INF).cpu().numpy()
        cand = candidates.cpu().numpy()
        is_valid = valid.cpu().numpy()
        n_users, n = cand.shape
        shown_by = np.zeros(max(int(item_vectors.shape[0]), int(cand.max(initial=-1)) + 1), dtype=np.int64)
        # start from the model's own lists; each step is a user's best response to the others'
        # lists, which raises the objective or keeps it, so the result never scores below the model's
        picks = [np.flatnonzero(is_valid[row])[: self.cutoff] for row in range(n_users)]
        for row in range(n_users):
            shown_by[cand[row, picks[row]]] += 1
        for _ in range(self.passes):
            for row in range(n_users):
                items = cand[row]
                shown_by[items[picks[row]]] -= 1  # the others' lists only
                adjusted = relevance[row] + self.bonus * (shown_by[np.maximum(items, 0)] == 0)
                pick = np.argsort(-adjusted, kind="stable")[: self.cutoff]  # stable: model order on ties
                pick = np.sort(pick[np.isfinite(adjusted[pick])])
                shown_by[items[pick]] += 1
                picks[row] = pick
        out = np.full((n_users, k), -1, dtype=np.int64)
        taken = np.zeros(n, dtype=bool)
        for row in range(n_users):
            pick = picks[row]
            taken[:] = False
            taken[pick] = True
            rest = np.flatnonzero(~taken & is_valid[row])[: max(k - len(pick), 0)]
            order = np.concatenate([pick, rest])[:k]
            out[row, : len(order)] = cand[row, order]
        return torch.from_numpy(out).to(candidates.device)

    def __repr__(self) -> str:
        return (
            f"CoverageReranker(bonus={self.bonus}, cutoff={self.cutoff}, passes={self.passes}, "
            f"candidates={self.candidates})"
        )
