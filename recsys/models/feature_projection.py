"""Side features of users or items, held as a fixed table and projected by a Linear layer.

Shared by every tower that takes features (:class:`recsys.models.towers.IdTower`,
:class:`recsys.models.history_tower.HistoryUserTower`), so the projection is written once.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureProjection(nn.Module):
    """``Linear(F -> P)`` of rows of a feature table (a registered buffer: moves with ``.to``
    and is saved in the ``state_dict``).

    Args:
        features: Float tensor of shape (N, F), one row per user or item index.
        projection_dim: P, the output size.
        num_rows: the N the table must have (checked), e.g. the number of embeddings.
    """

    def __init__(self, features: torch.Tensor, projection_dim: int, num_rows: int | None = None) -> None:
        super().__init__()
        features = torch.as_tensor(features, dtype=torch.float32)
        if features.ndim != 2 or (num_rows is not None and features.shape[0] != num_rows):
            raise ValueError(f"features must have shape ({num_rows if num_rows is not None else 'N'}, F), got {tuple(features.shape)}")
        if int(projection_dim) <= 0:
            raise ValueError(f"feature_projection_dim must be positive, got {projection_dim}")
        self.register_buffer("table", features.clone())
        self.linear = nn.Linear(features.shape[1], int(projection_dim))
        self.output_dim = int(projection_dim)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Projected features of indices: LongTensor (B,) -> (B, P)."""
        return self.linear(self.table[idx])

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Project given feature rows (B, F) -> (B, P) (users not in the table)."""
        return self.linear(features.to(self.linear.weight.dtype))
