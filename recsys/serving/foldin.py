"""Fold-in: a vector for a user the model never saw, from their ratings, without retraining.

The item vectors stay frozen; a fresh user vector ``u`` is optimised for a few dozen Adam steps
under the in-batch softmax objective the default model is trained with, here over the whole
catalogue: ``-sum_i w_i log softmax(V u / T)_i`` over the rated items, weighted by how much the user
liked them. For cosine models ``u`` is normalised as the towers' outputs are, so the folded-in
vector lives where trained user vectors live. Above ``max_catalog`` items the softmax runs over
the rated items and a seeded uniform sample of the others, each sampled logit shifted by
``log(others / sampled)`` so that the sample stands for the whole catalogue (the cost then no
longer grows with it). Measured on an idle 2-core CPU, 40 steps, 100 users of ~125 ratings:
8,638 items (full softmax) 8-26 ms; 42,412 items 197 ms over the full catalogue, 24 ms (p95 35 ms)
with 10,000 sampled, the vector at cosine 0.995 of the full one and 87% of its top-10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class FoldIn:
    """Settings of the fold-in optimisation.

    Args:
        steps: Adam steps (a few dozen).
        lr: Adam learning rate.
        temperature: softmax temperature (the run's ``loss.temperature``).
        normalize: normalise ``u`` (cosine models).
        like_threshold: ratings at or above this are liked (weight ``rating - like_threshold + 1``);
            when none is, every rating is used, weighted by ``rating / 5``.
        max_catalog: above this many catalogue items, sample this many of the unrated ones.
    """

    steps: int = 40
    lr: float = 0.1
    temperature: float = 0.1
    normalize: bool = True
    like_threshold: float = 3.5
    max_catalog: int = 10_000

    def __post_init__(self) -> None:
        if self.max_catalog < 1:
            raise ValueError(f"fold-in: max_catalog ({self.max_catalog}) must be >= 1")
        if self.steps < 1 or self.lr <= 0 or self.temperature <= 0:
            raise ValueError(f"fold-in: steps ({self.steps}) >= 1, lr ({self.lr}) > 0 and temperature ({self.temperature}) > 0 required")

    def weights(self, ratings: np.ndarray) -> np.ndarray:
        ratings = np.asarray(ratings, dtype=np.float32)
        liked = ratings >= self.like_threshold
        if liked.any():
            return np.where(liked, ratings - self.like_threshold + 1.0, 0.0).astype(np.float32)
        return (ratings / 5.0).astype(np.float32)

    def __call__(self, catalog_vectors: np.ndarray, positions: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """The user vector (D,) for ratings of the catalogue items at ``positions``.

        Args:
            catalog_vectors: (C, D) the frozen retrieval vectors of the catalogue.
            positions: (n,) rows of ``catalog_vectors`` the user rated; ``ratings`` (n,) their ratings.
        """
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            raise ValueError("fold-in needs at least one rating")
        vectors = torch.from_numpy(np.ascontiguousarray(catalog_vectors, dtype=np.float32))
        shift = None
        if len(vectors) > self.max_catalog:
            vectors, positions, shift = self._sample(vectors, positions)
        weights = torch.from_numpy(self.weights(ratings))
        weights = weights / weights.sum()
        index = torch.from_numpy(positions)
        start = (weights[:, None] * vectors[index]).sum(0)
        user = start.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([user], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                optimizer.zero_grad(set_to_none=True)
                u = torch.nn.functional.normalize(user, dim=0) if self.normalize else user
                logits = vectors @ u / self.temperature
                log_probs = torch.log_softmax(logits if shift is None else logits + shift, dim=0)
                loss = -(weights * log_probs[index]).sum()
                loss.backward()
                optimizer.step()
        out = user.detach()
        if self.normalize:
            out = torch.nn.functional.normalize(out, dim=0)
        return out.numpy().astype(np.float32)

    def _sample(self, vectors: torch.Tensor, positions: np.ndarray) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
        """The rated rows plus ``max_catalog`` unrated rows drawn uniformly (seeded by the ratings),
        the rated rows' new positions, and the logit shift of each row (0 rated, log(others/drawn) drawn)."""
        rated = np.unique(positions)
        rng = np.random.default_rng(int(rated.sum()) + len(rated))
        others = np.setdiff1d(np.arange(len(vectors)), rated, assume_unique=True)
        drawn = rng.choice(others, size=min(self.max_catalog, len(others)), replace=False)
        rows = np.concatenate([rated, drawn])
        shift = torch.zeros(len(rows))
        shift[len(rated) :] = float(np.log(len(others) / len(drawn)))
        new_position = {int(p): i for i, p in enumerate(rated)}
        return vectors[torch.from_numpy(rows)], np.array([new_position[int(p)] for p in positions], dtype=np.int64), shift
