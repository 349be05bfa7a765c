"""History tower: weights, leakage-free exclusion, and embedding of unseen users."""

from __future__ import annotations

import pytest
import torch

from recsys.models.history_tower import HistoryUserTower

# 4 users, 6 items; user 2 rated everything the same (uniform fallback), user 3 one item.
INDPTR = torch.tensor([0, 3, 5, 8, 9])
ITEMS = torch.tensor([0, 1, 2, 3, 4, 0, 2, 5, 1])
RATINGS = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0, 4.0, 4.0, 4.0, 2.5])


def make(weighting: str = "rating_centered", features: bool = False, **kw) -> HistoryUserTower:
    torch.manual_seed(0)
    feats = torch.randn(4, 3) if features else None
    return HistoryUserTower(
        6, INDPTR, ITEMS, RATINGS, features=feats, embedding_dim=4, feature_projection_dim=2,
        hidden_dims=[8, 5], weighting=weighting, **kw,
    ).eval()


def user_slice(u: int) -> tuple[torch.Tensor, torch.Tensor]:
    s, e = int(INDPTR[u]), int(INDPTR[u + 1])
    return ITEMS[s:e], RATINGS[s:e]


def test_bag_weights_by_hand() -> None:
    tower = make()
    seg = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    r = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0, 4.0, 4.0])
    w = tower.bag_weights(r, seg, 3)
    # user 0: mean 3 -> [-2, 2, 0] / 4; user 1: mean 3 -> [1, -1] / 2; user 2: all equal -> uniform.
    assert torch.allclose(w, torch.tensor([-0.5, 0.5, 0.0, 0.5, -0.5, 0.5, 0.5]))
    w = make("uniform").bag_weights(r, seg, 3)
    assert torch.allclose(w, torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.5, 0.5, 0.5, 0.5]))


def test_forward_shape_and_buffers() -> None:
    tower = make(features=True)
    out = tower(torch.tensor([0, 1, 2, 3]))
    assert out.shape == (4, 5) and tower.output_dim == 5 and tower.uses_history
    assert {"history_indptr", "history_items", "history_ratings", "feature_projection.table"} <= set(tower.state_dict())
    assert tower.num_ids == 4


def test_bag_is_weighted_mean_of_item_embeddings() -> None:
    tower = make()
    seen = {}
    tower.mlp.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    tower(torch.tensor([0]))
    e = tower.item_bag.weight
    assert torch.allclose(seen["x"][0], -0.5 * e[0] + 0.5 * e[1], atol=1e-6)


@pytest.mark.parametrize("weighting", ["rating_centered", "uniform"])
@pytest.mark.parametrize("features", [False, True])
def test_embed_history_matches_forward(weighting: str, features: bool) -> None:
    tower = make(weighting, features)
    users = torch.tensor([2, 0, 3, 1])
    parts = [user_slice(int(u)) for u in users]
    items = torch.cat([p[0] for p in parts])
    ratings = torch.cat([p[1] for p in parts])
    lengths = torch.tensor([len(p[0]) for p in parts])
    offsets = torch.cumsum(lengths, 0) - lengths
    feats = tower.features[users] if features else None
    expected = tower(users)
    got = tower.embed_history(items, ratings, offsets, feats)
    assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("weighting", ["rating_centered", "uniform"])
def test_exclude_item_equals_history_without_it(weighting: str) -> None:
    tower = make(weighting)
    users = torch.tensor([0, 1, 2, 0])
    exclude = torch.tensor([1, 3, 5, 4])  # the last one is not in user 0's history
    got = tower(users, exclude_item_idx=exclude)
    for b, (u, x) in enumerate(zip(users.tolist(), exclude.tolist())):
        items, ratings = user_slice(u)
        keep = items != x
        want = tower.embed_history(items[keep], ratings[keep], torch.tensor([0]))
        assert torch.allclose(got[b], want[0], atol=1e-6)
    assert torch.allclose(got[3], tower(torch.tensor([0]))[0], atol=1e-6)


def test_excluding_the_only_item_gives_finite_output() -> None:
    tower = make()
    out = tower(torch.tensor([3]), exclude_item_idx=torch.tensor([1]))
    assert torch.isfinite(out).all()


def test_unseen_user_gets_finite_embedding() -> None:
    tower = make()
    out = tower.embed_history(
        torch.tensor([5, 4, 0, 2, 3]), torch.tensor([5.0, 1.0, 3.0, 4.5, 0.5]), torch.tensor([0, 3])
    )
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])


def test_gradients_reach_item_embeddings() -> None:
    tower = make().train()
    tower(torch.tensor([0, 1, 2]), exclude_item_idx=torch.tensor([0, 3, 0])).sum().backward()
    assert tower.item_bag.weight.grad is not None and tower.item_bag.weight.grad.abs().sum() > 0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        HistoryUserTower(6, INDPTR, ITEMS, RATINGS, weighting="nope")
    with pytest.raises(ValueError):
        HistoryUserTower(6, INDPTR, ITEMS[:-1], RATINGS[:-1])
    with pytest.raises(ValueError):
        make(features=True).embed_history(ITEMS[:2], RATINGS[:2], torch.tensor([0]))
