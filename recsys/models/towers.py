"""The ID tower: an ID embedding, optionally with projected side features, then an MLP.

All towers (this one and :class:`recsys.models.history_tower.HistoryUserTower`) share one
interface:

* ``output_dim: int`` (the size D of the vectors they return);
* ``num_ids: int`` (how many user or item indices the tower can embed);
* ``uses_history: bool`` class attribute; only towers with ``uses_history = True`` accept
  ``forward(idx, exclude_item_idx=None)``, the others take ``forward(idx)``.

Data-dependent constructor arguments (``num_embeddings``, ``features``, the history CSR) are
``???`` in the YAML files under ``conf/user_tower`` and ``conf/item_tower``; they are filled by
:func:`recsys.training.build.fill_missing` (the one function production and tests use).
``conf/*_tower/id.yaml`` is this tower with ``features: null``; ``id_features.yaml`` fills them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.feature_projection import FeatureProjection
from recsys.models.mlp import MLP

__all__ = ["IdTower"]


class IdTower(nn.Module):
    """``[ID embedding | Linear(F -> P) of the features] -> MLP``.

    With ``features=None`` the tower is a plain ID embedding (and ``hidden_dims=[]`` makes it an
    embedding table: matrix factorisation). The reference design with features is
    ``[emb 128 | Linear(F -> 32)] -> 256 -> 128``.

    Args:
        num_embeddings: Number of users or items (N).
        features: Float tensor of shape (N, F), one row per index, or ``None`` (no feature branch).
        embedding_dim: Size of the ID embedding.
        feature_projection_dim: Output size P of the feature projection.
        hidden_dims: MLP layer sizes; the last is ``output_dim``. Empty for no MLP.
        dropout: Dropout of the MLP.
        batch_norm: BatchNorm in the MLP.
        normalize_output: L2-normalise the output vectors.
        activation: MLP activation name.
        init_std: Standard deviation of the normal initialisation of the embedding.
        sparse: ``nn.Embedding(sparse=True)``: backward gives a sparse gradient of the looked-up
            rows only, which needs an optimizer that takes one (``optimizer=sparse_adam``).
    """

    uses_history: bool = False

    def __init__(
        self,
        num_embeddings: int,
        features: torch.Tensor | None = None,
        embedding_dim: int = 128,
        feature_projection_dim: int = 32,
        hidden_dims: Sequence[int] = (256, 128),
        dropout: float = 0.2,
        batch_norm: bool = True,
        normalize_output: bool = False,
        activation: str = "relu",
        init_std: float = 0.1,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        if int(num_embeddings) <= 0 or int(embedding_dim) <= 0:
            raise ValueError(f"num_embeddings and embedding_dim must be positive, got {num_embeddings}, {embedding_dim}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.embedding = nn.Embedding(int(num_embeddings), int(embedding_dim), sparse=bool(sparse))
        nn.init.normal_(self.embedding.weight, std=init_std)
        self.feature_projection = (
            None if features is None else FeatureProjection(features, feature_projection_dim, int(num_embeddings))
        )
        in_dim = int(embedding_dim) + (self.feature_projection.output_dim if self.feature_projection else 0)
        self.mlp = MLP(in_dim, list(hidden_dims), dropout, batch_norm, activation)
        self.normalize_output = bool(normalize_output)
        self.output_dim = self.mlp.output_dim

    @property
    def features(self) -> torch.Tensor | None:
        """The feature table (N, F), or None."""
        return None if self.feature_projection is None else self.feature_projection.table

    @property
    def num_ids(self) -> int:
        """Number of indices the tower can embed."""
        return self.embedding.num_embeddings

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Embed indices.

        Args:
            idx: LongTensor of shape (B,).

        Returns:
            Tensor of shape (B, output_dim).
        """
        x = self.embedding(idx)
        if self.feature_projection is not None:
            x = torch.cat([x, self.feature_projection(idx)], dim=-1)
        out = self.mlp(x)
        return F.normalize(out, dim=-1) if self.normalize_output else out
