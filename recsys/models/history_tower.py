"""User tower that embeds a user as the weighted mean of the items they rated.

Because the user vector is a function of rated items (not a per-user ID embedding), users never
seen in training are embedded without retraining with :meth:`HistoryUserTower.embed_history`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.feature_projection import FeatureProjection
from recsys.models.mlp import MLP

WEIGHTINGS = ("rating_centered", "uniform")


class HistoryUserTower(nn.Module):
    """Weighted bag of rated-item embeddings (+ optional projected user features) -> MLP.

    Per user u with rated items j and ratings r_j, the bag is ``sum_j w_j e_j`` with
    ``w_j = v_j / sum_k |v_k|`` where ``v_j = r_j - mean(r)`` (``weighting="rating_centered"``,
    disliked items push the user away) or ``v_j = 1`` (``"uniform"``, the plain mean). When all
    ``|v_j|`` sum to (nearly) zero, e.g. a user who gave every movie the same rating or rated a
    single one, the weights fall back to uniform. A user with an empty bag gets a zero bag.

    The history CSR (training ratings) is stored as buffers, so it moves with the module and is
    saved in its ``state_dict``.

    Args:
        num_items: Number of items (I), size of the tower's own item ``nn.EmbeddingBag``.
        history_indptr: LongTensor (U+1,), CSR row pointer over users.
        history_items: LongTensor (nnz,), item indices of each user's ratings.
        history_ratings: FloatTensor (nnz,), the ratings.
        features: Optional float tensor (U, F) of user features.
        embedding_dim: Size of the item embeddings in the bag.
        feature_projection_dim: Output size of Linear(F -> .) applied to user features.
        hidden_dims: MLP layer sizes; the last is ``output_dim``.
        weighting: ``"rating_centered"`` or ``"uniform"`` (a hyper-parameter, see above).
        dropout: Dropout of the MLP.
        batch_norm: BatchNorm in the MLP.
        normalize_output: L2-normalise the output vectors.
        activation: MLP activation name.
        init_std: Standard deviation of the normal initialisation of the item embeddings.
        eps: Threshold under which ``sum |v_j|`` counts as zero.
        sparse: ``nn.EmbeddingBag(sparse=True)``: backward gives a sparse gradient of the bagged
            rows only, which needs an optimizer that takes one (``optimizer=sparse_adam``).
    """

    uses_history: bool = True

    def __init__(
        self,
        num_items: int,
        history_indptr: torch.Tensor,
        history_items: torch.Tensor,
        history_ratings: torch.Tensor,
        features: torch.Tensor | None = None,
        embedding_dim: int = 128,
        feature_projection_dim: int = 32,
        hidden_dims: Sequence[int] = (256, 128),
        weighting: str = "rating_centered",
        dropout: float = 0.2,
        batch_norm: bool = True,
        normalize_output: bool = False,
        activation: str = "relu",
        init_std: float = 0.1,
        eps: float = 1e-6,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        indptr = torch.as_tensor(history_indptr, dtype=torch.long)
        items = torch.as_tensor(history_items, dtype=torch.long)
        ratings = torch.as_tensor(history_ratings, dtype=torch.float32)
        if indptr.ndim != 1 or int(indptr[-1]) != items.numel() or items.shape != ratings.shape:
            raise ValueError("history CSR is inconsistent: need indptr[-1] == len(items) == len(ratings)")
        self.register_buffer("history_indptr", indptr.clone())
        self.register_buffer("history_items", items.clone())
        self.register_buffer("history_ratings", ratings.clone())
        self.weighting = weighting
        self.eps = float(eps)
        self.item_bag = nn.EmbeddingBag(int(num_items), int(embedding_dim), mode="sum", sparse=bool(sparse))
        nn.init.normal_(self.item_bag.weight, std=init_std)
        self.feature_projection = (
            None if features is None else FeatureProjection(features, feature_projection_dim, indptr.numel() - 1)
        )
        in_dim = int(embedding_dim) + (self.feature_projection.output_dim if self.feature_projection else 0)
        self.mlp = MLP(in_dim, list(hidden_dims), dropout, batch_norm, activation)
        self.normalize_output = bool(normalize_output)
        self.output_dim = self.mlp.output_dim

    @property
    def features(self) -> torch.Tensor | None:
        """The user feature table (U, F), or None."""
        return None if self.feature_projection is None else self.feature_projection.table

    @property
    def num_ids(self) -> int:
        """Number of training users (U) whose history is stored."""
        return self.history_indptr.numel() - 1

    def forward(
        self, user_idx: torch.Tensor, exclude_item_idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Embed training users from their stored history.

        Args:
            user_idx: LongTensor (B,) of training users.
            exclude_item_idx: Optional LongTensor (B,); item ``exclude_item_idx[b]`` is removed
                from user b's bag before weighting (pass the positive item during training so the
                target does not leak into the input). Items absent from the history are ignored.

        Returns:
            Tensor of shape (B, output_dim).
        """
        starts = self.history_indptr[user_idx]
        lengths = self.history_indptr[user_idx + 1] - starts
        seg = torch.repeat_interleave(torch.arange(user_idx.numel(), device=user_idx.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        pos = torch.arange(seg.numel(), device=seg.device) - first[seg] + starts[seg]
        items, ratings = self.history_items[pos], self.history_ratings[pos]
        if exclude_item_idx is not None:
            keep = items != exclude_item_idx[seg]
            items, ratings, seg = items[keep], ratings[keep], seg[keep]
        feats = self.feature_projection(user_idx) if self.feature_projection is not None else None
        return self._encode(items, ratings, seg, user_idx.numel(), feats)

    def embed_history(
        self,
        item_idx: torch.Tensor,
        ratings: torch.Tensor,
        offsets: torch.Tensor,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Embed arbitrary (e.g. never seen) users from their ratings, without retraining.

        Args:
            item_idx: LongTensor (nnz,), rated items of all B users, user by user.
            ratings: FloatTensor (nnz,), their ratings.
            offsets: LongTensor (B,), start of each user's slice in ``item_idx``
                (``nn.EmbeddingBag`` convention; ``offsets[0] == 0``).
            features: Float tensor (B, F) of user features; required when the tower was built
                with features, ignored otherwise.

        Returns:
            Tensor of shape (B, output_dim).
        """
        if self.feature_projection is not None and features is None:
            raise ValueError("this tower was built with user features; pass features (B, F)")
        item_idx, offsets = item_idx.long(), offsets.long()
        ends = torch.cat([offsets[1:], offsets.new_tensor([item_idx.numel()])])
        seg = torch.repeat_interleave(torch.arange(offsets.numel(), device=offsets.device), ends - offsets)
        feats = self.feature_projection.project(features) if self.feature_projection is not None else None
        return self._encode(item_idx, ratings.float(), seg, offsets.numel(), feats)

    def bag_weights(self, ratings: torch.Tensor, seg: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Normalised per-element bag weights (see the class docstring).

        Args:
            ratings: FloatTensor (T,) of ratings, grouped by user.
            seg: LongTensor (T,), the user (0..B-1) of each element, non-decreasing.
            batch_size: B.

        Returns:
            FloatTensor (T,) with ``sum |w| == 1`` per non-empty user.
        """
        ratings = ratings.float()
        ones = torch.ones_like(ratings)
        counts = torch.zeros(batch_size, device=ratings.device).index_add_(0, seg, ones)
        if self.weighting == "rating_centered":
            sums = torch.zeros(batch_size, device=ratings.device).index_add_(0, seg, ratings)
            v = ratings - (sums / counts.clamp_min(1))[seg]
        else:
            v = ones
        norm = torch.zeros(batch_size, device=ratings.device).index_add_(0, seg, v.abs())
        degenerate = norm < self.eps * counts.clamp_min(1)
        v = torch.where(degenerate[seg], ones, v)
        norm = torch.where(degenerate, counts.clamp_min(1), norm)
        return v / norm[seg]

    def _encode(
        self,
        items: torch.Tensor,
        ratings: torch.Tensor,
        seg: torch.Tensor,
        batch_size: int,
        projected: torch.Tensor | None,
    ) -> torch.Tensor:
        """Weighted bag (+ projected features (B, P)) through the MLP; returns (B, output_dim)."""
        weights = self.bag_weights(ratings, seg, batch_size).to(self.item_bag.weight.dtype)
        counts = torch.bincount(seg, minlength=batch_size)
        offsets = torch.cumsum(counts, 0) - counts
        x = self.item_bag(items, offsets, per_sample_weights=weights)
        if projected is not None:
            x = torch.cat([x, projected], dim=-1)
        out = self.mlp(x)
        return F.normalize(out, dim=-1) if self.normalize_output else out
