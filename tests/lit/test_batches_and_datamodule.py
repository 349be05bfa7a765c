from __future__ import annotations

import pytest
import torch

from recsys.data.batches import TensorBatches, UserChunks
from recsys.lit.datamodule import InteractionDataModule


def _columns(n: int = 103) -> dict[str, torch.Tensor]:
    return {"user_idx": torch.arange(n), "item_idx": torch.arange(n) * 10, "rating": torch.arange(n).float()}


def test_epoch_covers_every_row_once_and_rows_stay_aligned() -> None:
    batches = TensorBatches(_columns(), batch_size=10, seed=3)
    seen = torch.cat([b["user_idx"] for b in batches])
    assert sorted(seen.tolist()) == list(range(103)) and len(batches) == 11
    for b in TensorBatches(_columns(), batch_size=10, seed=3):
        assert torch.equal(b["item_idx"], b["user_idx"] * 10)


def test_order_is_seeded_per_epoch_and_resumable() -> None:
    a, b = TensorBatches(_columns(), 10, seed=1), TensorBatches(_columns(), 10, seed=1)
    first = [x["user_idx"] for x in a]
    second_epoch = [x["user_idx"] for x in a]
    assert not torch.equal(first[0], second_epoch[0])
    b.set_epoch(1)  # a resumed run starting at epoch 1 sees epoch 1's order
    assert all(torch.equal(x["user_idx"], y) for x, y in zip(b, second_epoch))


def test_ranks_get_disjoint_equal_shards() -> None:
    shards = [TensorBatches(_columns(), 8, seed=0, rank=r, world_size=2, drop_last=True) for r in (0, 1)]
    rows = [torch.cat([b["user_idx"] for b in s]) for s in shards]
    assert len(shards[0]) == len(shards[1])
    assert not set(rows[0].tolist()) & set(rows[1].tolist())


def test_user_chunks_shard_every_user_once() -> None:
    users = torch.arange(25)
    parts = [torch.cat(list(UserChunks(users, 4, rank=r, world_size=3))) for r in range(3)]
    assert sorted(torch.cat(parts).tolist()) == list(range(25))


def test_bad_columns_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        TensorBatches({"a": torch.zeros(3), "b": torch.zeros(4)}, 2)


def test_min_positive_rating_keeps_liked_ratings_only(bundled_split) -> None:
    module = InteractionDataModule(None, batch_size=4096, min_positive_rating=4.0, split_data=bundled_split)
    ratings = torch.cat([b["rating"] for b in module.train_dataloader()])
    assert ratings.min() >= 4.0
    expected = int((bundled_split.train.rating >= 4.0).sum())
    assert expected - 4096 < ratings.numel() <= expected  # drop_last
    # evaluation users are not sharded: every rank evaluates every user (same metrics on all ranks)
    assert torch.equal(torch.cat(list(module.val_dataloader())), module.task("val").users)


@pytest.mark.parametrize(("field", "value"), [("batch_size", 0), ("batch_size", -5), ("batch_size", "abc"), ("min_positive_rating", "high")])
def test_invalid_datamodule_settings_fail_at_construction(field: str, value) -> None:
    from recsys.training.build import ConfigError

    with pytest.raises(ConfigError, match=field):
        InteractionDataModule(None, split_data=object(), **{field: value})
