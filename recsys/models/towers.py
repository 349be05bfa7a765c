"""Towers that embed users or items: ID embeddings, ID + side features, and rating histories.

All towers share one interface:

* ``output_dim: int`` (the size D of the vectors they return);
* ``num_ids: int`` (how many user or item indices the tower can embed);
* ``uses_history: bool`` class attribute; only towers with ``uses_history = True`` accept
  ``forward(idx, exclude_item_idx=None)``, the others take ``forward(idx)``.

Data-dependent constructor arguments (``num_embeddings``, ``features``, the history CSR) are
``???`` in the YAML files under ``conf/user_tower`` and ``conf/item_tower``; fill them with
:func:`instantiate_tower`, which passes only the fields that the config leaves missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.history_tower import HistoryUserTower
from recsys.models.mlp import MLP

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["IdTower", "IdFeaturesTower", "HistoryUserTower", "instantiate_tower"]


class IdTower(nn.Module):
    """ID embedding followed by an MLP.

    With ``hidden_dims=[]`` this is a plain embedding table (matrix factorisation).

    Args:
        num_embeddings: Number of users or items.
        embedding_dim: Size of the ID embedding.
        hidden_dims: MLP layer sizes; the last is ``output_dim``. Empty for no MLP.
        dropout: Dropout of the MLP.
        batch_norm: BatchNorm in the MLP.
        normalize_output: L2-normalise the output vectors.
        activation: MLP activation name.
        init_std: Standard deviation of the normal initialisation of the embedding.
    """

    uses_history: bool = False

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int = 128,
        hidden_dims: Sequence[int] = (256, 128),
        dropout: float = 0.2,
        batch_norm: bool = True,
        normalize_output: bool = False,
        activation: str = "relu",
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(int(num_embeddings), int(embedding_dim))
        nn.init.normal_(self.embedding.weight, std=init_std)
        self.mlp = MLP(embedding_dim, list(hidden_dims), dropout, batch_norm, activation)
        self.normalize_output = bool(normalize_output)
        self.output_dim = self.mlp.output_dim

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
        out = self.mlp(self.embedding(idx))
        return F.normalize(out, dim=-1) if self.normalize_output else out


class IdFeaturesTower(nn.Module):
    """ID embedding concatenated with projected side features, followed by an MLP.

    The feature table is a registered buffer: it moves with ``.to(device)`` and is saved in the
    ``state_dict``. The reference design is ``[emb 128 | Linear(F -> 32)] -> 256 -> 128``.

    Args:
        num_embeddings: Number of users or items (N).
        features: Float tensor of shape (N, F), one row per index; ``None`` drops the feature
            branch (the tower is then an :class:`IdTower`).
        embedding_dim: Size of the ID embedding.
        feature_projection_dim: Output size of the Linear projection of the features.
        hidden_dims: MLP layer sizes; the last is ``output_dim``.
        dropout: Dropout of the MLP.
        batch_norm: BatchNorm in the MLP.
        normalize_output: L2-normalise the output vectors.
        activation: MLP activation name.
        init_std: Standard deviation of the normal initialisation of the embedding.
    """

    uses_history: bool = False

    def __init__(
        self,
        num_embeddings: int,
        features: torch.Tensor | None,
        embedding_dim: int = 128,
        feature_projection_dim: int = 32,
        hidden_dims: Sequence[int] = (256, 128),
        dropout: float = 0.2,
        batch_norm: bool = True,
        normalize_output: bool = False,
        activation: str = "relu",
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(int(num_embeddings), int(embedding_dim))
        nn.init.normal_(self.embedding.weight, std=init_std)
        in_dim = int(embedding_dim)
        self.projection: nn.Linear | None = None
        if features is not None:
            features = torch.as_tensor(features, dtype=torch.float32)
            if features.ndim != 2 or features.shape[0] != num_embeddings:
                raise ValueError(
                    f"features must have shape ({num_embeddings}, F), got {tuple(features.shape)}"
                )
            self.register_buffer("features", features.clone())
            self.projection = nn.Linear(features.shape[1], int(feature_projection_dim))
            in_dim += int(feature_projection_dim)
        else:
            self.features = None
        self.mlp = MLP(in_dim, list(hidden_dims), dropout, batch_norm, activation)
        self.normalize_output = bool(normalize_output)
        self.output_dim = self.mlp.output_dim

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
        if self.projection is not None:
            x = torch.cat([x, self.projection(self.features[idx])], dim=-1)
        out = self.mlp(x)
        return F.normalize(out, dim=-1) if self.normalize_output else out


def instantiate_tower(cfg: DictConfig, **data: Any) -> nn.Module:
    """Instantiate a tower config, filling its ``???`` fields from ``data``.

    Only the keys that ``cfg`` leaves missing are passed, so one call site serves every tower:
    ``instantiate_tower(cfg.model.user_tower, num_embeddings=U, num_items=I, features=f,
    history_indptr=..., history_items=..., history_ratings=...)``.

    Args:
        cfg: A tower config (``_target_`` plus fields), e.g. ``cfg.model.user_tower``.
        **data: Candidate values for missing fields; extra keys are ignored.

    Returns:
        The instantiated tower.

    Raises:
        ValueError: When a missing field has no value in ``data``.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    missing = [k for k in cfg.keys() if OmegaConf.is_missing(cfg, k)]
    absent = [k for k in missing if k not in data]
    if absent:
        raise ValueError(f"tower {cfg.get('_target_')} needs {absent}; got {sorted(data)}")
    return instantiate(cfg, **{k: data[k] for k in missing})
