"""TwoTower API, retrieval consistency and a tiny overfitting run."""

from __future__ import annotations

import pytest
import torch

from recsys.losses import InBatchSoftmaxLoss, MSELoss, TowerOutputs
from recsys.models.history_tower import HistoryUserTower
from recsys.models.similarity import CosineSimilarity, DotSimilarity
from recsys.models.towers import IdTower
from recsys.models.two_tower import TwoTower

INDPTR = torch.tensor([0, 2, 4, 5])
ITEMS = torch.tensor([0, 1, 2, 3, 4])
RATINGS = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0])


def make(history: bool = False) -> TwoTower:
    torch.manual_seed(0)
    if history:
        user = HistoryUserTower(5, INDPTR, ITEMS, RATINGS, embedding_dim=4, hidden_dims=[8, 6])
    else:
        user = IdTower(3, embedding_dim=4, hidden_dims=[8, 6])
    item = IdTower(5, torch.randn(5, 2), embedding_dim=4, hidden_dims=[8, 6])
    return TwoTower(user, item, CosineSimilarity())


@pytest.mark.parametrize("history", [False, True])
def test_shapes(history: bool) -> None:
    model = make(history)
    u, i = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 4])
    ue, ie = model(u, i, exclude_item_idx=i)
    assert ue.shape == (3, 6) and ie.shape == (3, 6)
    assert model.user_embeddings(u).shape == (3, 6)
    assert model.item_embeddings().shape == (5, 6)
    assert model.item_embeddings(torch.tensor([4, 0, 1, 2]), chunk_size=3).shape == (4, 6)  # 2 + 2 rows
    assert model.score(u, i).shape == (3,)
    assert model.num_users == 3 and model.num_items == 5


def test_exclude_is_passed_only_to_history_towers() -> None:
    model = make(history=True).eval()
    u, i = torch.tensor([0, 1]), torch.tensor([0, 3])
    with_ex, _ = model(u, i, exclude_item_idx=i)
    without, _ = model(u, i)
    assert not torch.allclose(with_ex, without)
    ue, _ = make(history=False)(u, i, exclude_item_idx=i)  # IdTower ignores it
    assert ue.shape == (2, 6)


@pytest.mark.parametrize("history", [False, True])
def test_retrieval_vectors_rank_like_score(history: bool) -> None:
    model = make(history).eval()
    users, items = model.retrieval_vectors(chunk_size=2)
    assert users.shape == (3, 6) and items.shape == (5, 6) and not users.requires_grad
    ip = users @ items.T
    u = torch.arange(3).repeat_interleave(5)
    i = torch.arange(5).repeat(3)
    scores = model.score(u, i).reshape(3, 5)
    assert torch.allclose(ip, scores, atol=1e-5)


def test_mismatched_dims_rejected() -> None:
    with pytest.raises(ValueError):
        TwoTower(IdTower(3, embedding_dim=4, hidden_dims=[5]), IdTower(3, embedding_dim=4, hidden_dims=[6]), DotSimilarity())


def test_tiny_two_tower_overfits() -> None:
    torch.manual_seed(0)
    n = 16
    user_idx, item_idx = torch.arange(n), torch.randperm(n)
    rating = torch.rand(n) * 4.5 + 0.5
    model = TwoTower(
        IdTower(n, embedding_dim=16, hidden_dims=[32, 16], dropout=0.0), IdTower(n, embedding_dim=16, hidden_dims=[32, 16], dropout=0.0), CosineSimilarity()
    )
    softmax, mse = InBatchSoftmaxLoss(temperature=0.1, logq_correction=False), MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step() -> tuple[torch.Tensor, torch.Tensor]:
        u, i = model(user_idx, item_idx)
        out = TowerOutputs(u, i, rating, item_idx, similarity=model.similarity)
        return softmax(out), mse(out)

    first = [x.item() for x in step()]
    for _ in range(200):
        a, b = step()
        opt.zero_grad()
        (a + b).backward()
        opt.step()
    model.eval()
    last = [x.item() for x in step()]
    assert last[0] < 0.1 * first[0] and last[1] < 0.1 * first[1], (first, last)
