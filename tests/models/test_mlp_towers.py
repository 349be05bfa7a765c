"""Shapes and structure of the MLP and the ID towers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recsys.models.mlp import MLP
from recsys.models.towers import IdTower


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_mlp_layers_and_shape() -> None:
    mlp = MLP(8, [16, 4], dropout=0.2, batch_norm=True)
    kinds = [type(m) for m in mlp.net]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert mlp(torch.randn(5, 8)).shape == (5, 4)
    assert mlp.output_dim == 4


def test_mlp_without_hidden_layers_is_identity() -> None:
    mlp = MLP(8, [])
    x = torch.randn(3, 8)
    assert torch.equal(mlp(x), x) and mlp.output_dim == 8


def test_mlp_rejects_unknown_activation() -> None:
    with pytest.raises(ValueError):
        MLP(4, [4], activation="nope")


def test_id_tower_shapes() -> None:
    tower = IdTower(10, embedding_dim=8, hidden_dims=[16, 6])
    assert tower(torch.tensor([0, 3, 9])).shape == (3, 6)
    assert tower.output_dim == 6 and tower.num_ids == 10 and not tower.uses_history


def test_id_tower_plain_embedding_and_normalisation() -> None:
    tower = IdTower(10, embedding_dim=5, hidden_dims=[])
    idx = torch.tensor([1, 2])
    assert torch.equal(tower(idx), tower.embedding.weight[idx])
    tower = IdTower(10, embedding_dim=5, hidden_dims=[7], normalize_output=True)
    assert torch.allclose(tower(idx).norm(dim=-1), torch.ones(2))


def test_id_features_tower_shapes_and_buffer() -> None:
    feats = torch.randn(10, 3)
    tower = IdTower(10, feats, embedding_dim=8, feature_projection_dim=4, hidden_dims=[16, 6])
    assert tower.mlp.in_dim == 12
    assert tower(torch.tensor([0, 9])).shape == (2, 6)
    assert "feature_projection.table" in tower.state_dict()
    assert torch.equal(tower.features, feats)


def test_id_features_tower_uses_features() -> None:
    feats = torch.randn(4, 3)
    tower = IdTower(4, feats, embedding_dim=2, hidden_dims=[5]).eval()
    idx = torch.tensor([0, 1])
    before = tower(idx)
    tower.features[0] += 10.0
    after = tower(idx)
    assert not torch.allclose(before[0], after[0]) and torch.allclose(before[1], after[1])


def test_id_features_tower_without_features() -> None:
    tower = IdTower(4, None, embedding_dim=2, hidden_dims=[5])
    assert tower(torch.tensor([0, 1])).shape == (2, 5)


def test_id_features_tower_rejects_wrong_feature_rows() -> None:
    with pytest.raises(ValueError):
        IdTower(4, torch.randn(3, 2))
