"""Two-tower retrieval model: a user tower, an item tower and a similarity."""

from __future__ import annotations

import torch
from torch import nn


def _chunks(idx: torch.Tensor, chunk_size: int) -> tuple[torch.Tensor, ...]:
    """Split (N,) into balanced chunks of at most ``chunk_size`` (no size-1 tail for BatchNorm)."""
    return torch.tensor_split(idx, max(1, -(-idx.numel() // chunk_size)))


def _device(module: nn.Module) -> torch.device:
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


class TwoTower(nn.Module):
    """Embeds users and items with separate towers and scores them with ``similarity``.

    Losses live in :mod:`recsys.losses`; ``forward`` only returns the two embeddings.

    Args:
        user_tower: Tower with ``output_dim``, ``num_ids``, ``uses_history`` and
            ``forward(user_idx)`` or, when ``uses_history``, ``forward(user_idx, exclude_item_idx)``.
        item_tower: Tower with ``forward(item_idx)``, ``output_dim`` and ``num_ids``.
        similarity: A module from :mod:`recsys.models.similarity`.
    """

    def __init__(self, user_tower: nn.Module, item_tower: nn.Module, similarity: nn.Module) -> None:
        super().__init__()
        if user_tower.output_dim != item_tower.output_dim:
            raise ValueError(
                f"tower output dims differ: user {user_tower.output_dim}, item {item_tower.output_dim}; "
                "make the last of user_tower.hidden_dims and item_tower.hidden_dims equal (with "
                "hidden_dims=[] a tower outputs its input: embedding_dim, plus feature_projection_dim "
                "when it has features; set features=null to drop them)"
            )
        self.user_tower = user_tower
        self.item_tower = item_tower
        self.similarity = similarity
        self.output_dim = int(user_tower.output_dim)

    @property
    def num_users(self) -> int:
        """Number of users the user tower can embed by index."""
        return int(self.user_tower.num_ids)

    @property
    def num_items(self) -> int:
        """Number of items in the catalog."""
        return int(self.item_tower.num_ids)

    def forward(
        self,
        user_idx: torch.Tensor,
        item_idx: torch.Tensor,
        exclude_item_idx: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed a batch of (user, item) pairs.

        Args:
            user_idx: LongTensor (B,).
            item_idx: LongTensor (B,).
            exclude_item_idx: Optional LongTensor (B,) removed from history-based user inputs
                (usually ``item_idx`` during training); ignored by towers without history.

        Returns:
            ``(user_emb (B, D), item_emb (B, D))``.
        """
        return self.user_embeddings(user_idx, exclude_item_idx), self.item_tower(item_idx)

    def user_embeddings(
        self, user_idx: torch.Tensor, exclude_item_idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Embed users; ``exclude_item_idx`` (B,) is passed on only to history towers.

        Returns:
            Tensor of shape (B, D).
        """
        if getattr(self.user_tower, "uses_history", False):
            return self.user_tower(user_idx, exclude_item_idx=exclude_item_idx)
        return self.user_tower(user_idx)

    def item_embeddings(
        self, item_idx: torch.Tensor | None = None, chunk_size: int = 65536
    ) -> torch.Tensor:
        """Embed items in chunks (keeps gradients; wrap in ``torch.no_grad()`` for evaluation).

        Args:
            item_idx: LongTensor (I,) or ``None`` for the whole catalog.
            chunk_size: Items per tower call.

        Returns:
            Tensor of shape (I, D).
        """
        if item_idx is None:
            item_idx = torch.arange(self.num_items, device=_device(self.item_tower))
        return torch.cat([self.item_tower(c) for c in _chunks(item_idx, chunk_size)])

    @torch.no_grad()
    def retrieval_vectors(
        self,
        user_idx: torch.Tensor | None = None,
        item_idx: torch.Tensor | None = None,
        chunk_size: int = 65536,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors for inner-product retrieval (``similarity.prepare`` applied), without gradients.

        ``users @ items.T`` ranks items exactly as :meth:`score`. Call ``model.eval()`` first.

        Args:
            user_idx: LongTensor (U,) or ``None`` for every user the user tower knows.
            item_idx: LongTensor (I,) or ``None`` for the whole catalog.
            chunk_size: Rows per tower call.

        Returns:
            ``(user_vectors (U, D), item_vectors (I, D))``.
        """
        if user_idx is None:
            user_idx = torch.arange(self.num_users, device=_device(self.user_tower))
        users = torch.cat([self.user_embeddings(c) for c in _chunks(user_idx, chunk_size)])
        items = self.item_embeddings(item_idx, chunk_size)
        return self.similarity.prepare(users), self.similarity.prepare(items)

    def score(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """Similarity of each (user, item) pair.

        Args:
            user_idx: LongTensor (B,).
            item_idx: LongTensor (B,).

        Returns:
            Tensor of shape (B,).
        """
        return self.similarity.pairwise(self.user_embeddings(user_idx), self.item_tower(item_idx))
