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
    assert len(shards[0]) == len(shards[1]) == 103 // 16
    assert not set(rows[0].tolist()) & set(rows[1].tolist())


@pytest.mark.parametrize(("n", "world_size", "batch_size", "drop_last"),
                         [(103, 2, 8, True), (103, 2, 8, False), (96, 3, 4, False), (103, 4, 5, False), (7, 2, 3, False)])
def test_ddp_step_is_the_single_process_step_of_the_global_batch(n: int, world_size: int, batch_size: int, drop_last: bool) -> None:
    """Step i over all ranks = step i of one process with batch world_size * batch_size (same seed),
    rank r holding the r-th batch_size slice; every rank takes as many equal batches."""
    single = TensorBatches(_columns(n), world_size * batch_size, seed=5, drop_last=drop_last)
    ranks = [TensorBatches(_columns(n), batch_size, seed=5, rank=r, world_size=world_size, drop_last=drop_last)
             for r in range(world_size)]
    for epoch in (0, 3):  # set_epoch (what a resumed run does) keeps the correspondence
        single.set_epoch(epoch)
        for r in ranks:
            r.set_epoch(epoch)
        expected = [b["user_idx"] for b in single]
        steps = [[b["user_idx"] for b in r] for r in ranks]
        assert all(len(s) == len(r) == len(steps[0]) for s, r in zip(steps, ranks))
        assert len({r.rows_per_rank for r in ranks}) == 1
        for i, parts in enumerate(zip(*steps)):
            assert len({p.numel() for p in parts}) == 1  # lock-step: equal rows on every rank
            union = torch.cat(parts)
            if i < n // (world_size * batch_size):  # a full global batch: exactly the single process's
                assert torch.equal(union, expected[i])
            else:  # the tail: an equal share per rank; the last (n mod G) mod W rows are left out
                rest = n % (world_size * batch_size)
                assert torch.equal(union, expected[i][: rest - rest % world_size])
        if drop_last or n % (world_size * batch_size) < world_size:
            assert len(steps[0]) == n // (world_size * batch_size)


def test_rank_outside_the_world_is_rejected() -> None:
    with pytest.raises(ValueError, match="rank"):
        TensorBatches(_columns(), 8, rank=2, world_size=2)


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


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_ddp_ranks_draw_their_slice_of_the_global_batch_negatives(sampler: str) -> None:
    """Ranks start from the same seed: each keeps its slice of the global batch's draw (what one
    process with the global batch draws), not a copy of the same negatives."""
    from types import SimpleNamespace

    from recsys.lit.two_tower_module import TwoTowerModule
    from recsys.losses import negatives as samplers

    negatives = samplers.UniformNegativeSampler(3) if sampler == "uniform" else samplers.PopularityNegativeSampler(3)
    negatives.setup(torch.arange(1, 51))

    def draw(rank: int, world_size: int, batch_size: int) -> torch.Tensor:
        torch.manual_seed(11)
        fake = SimpleNamespace(_shard=(rank, world_size), loss=SimpleNamespace(negative_sampler=negatives))
        return TwoTowerModule.sample_negatives(fake, batch_size, torch.device("cpu"))

    single = draw(0, 1, 8)
    ranks = [draw(r, 2, 4) for r in (0, 1)]
    assert single.shape == (8, 3) and ranks[0].shape == (4, 3)
    assert torch.equal(torch.cat(ranks), single) and not torch.equal(ranks[0], ranks[1])
