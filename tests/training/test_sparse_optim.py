"""SparseEmbeddingAdam: SparseAdam for sparse tables, Adam for the rest, one state_dict."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from recsys.training.sparse_optim import (
    SparseEmbeddingAdam,
    parameter_groups,
    sparse_parameters,
)


def _model(sparse: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(50, 8, sparse=sparse), nn.Linear(8, 1))


def _train(model: nn.Module, optimizer, steps: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, 50, (16,), generator=generator)
        optimizer.zero_grad()
        model(idx).pow(2).mean().backward()
        optimizer.step()


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


class _Pair:
    """SparseAdam on the table and Adam on the rest, as two separate torch optimizers."""

    def __init__(self, model: nn.Module, lr: float) -> None:
        self.sparse = torch.optim.SparseAdam(list(model[0].parameters()), lr=lr)
        self.dense = torch.optim.Adam(list(model[1].parameters()), lr=lr)

    def zero_grad(self) -> None:
        self.sparse.zero_grad()
        self.dense.zero_grad()

    def step(self) -> None:
        self.sparse.step()
        self.dense.step()


def test_groups_split_sparse_tables_from_the_dense_rest() -> None:
    dense_model, sparse_model = _model(sparse=False), _model()
    assert parameter_groups(dense_model) == list(dense_model.parameters())  # what any torch optimizer took before
    groups = parameter_groups(sparse_model)
    assert [g["sparse"] for g in groups] == [False, True]
    assert groups[1]["params"] == sparse_parameters(sparse_model) == [sparse_model[0].weight]


def test_steps_exactly_as_sparse_adam_plus_adam() -> None:
    ours, reference = _model(), _model()
    _train(ours, SparseEmbeddingAdam(parameter_groups(ours), lr=0.01), 7, seed=1)
    _train(reference, _Pair(reference, lr=0.01), 7, seed=1)
    assert _same(ours, reference)
    assert ours[0].weight.grad.is_sparse


def test_state_dict_round_trip_continues_bit_identically() -> None:
    settings = {"lr": 0.01, "weight_decay": 1e-3, "sparse_weight_decay": 1e-2}
    first = _model()
    optimizer = SparseEmbeddingAdam(parameter_groups(first), **settings)
    _train(first, optimizer, 5, seed=1)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # what Lightning's checkpoint holds is plain data
    resumed = _model()
    resumed.load_state_dict(saved["model"])
    resumed_optimizer = SparseEmbeddingAdam(parameter_groups(resumed), **settings)
    resumed_optimizer.load_state_dict(saved["optimizer"])
    _train(first, optimizer, 5, seed=2)
    _train(resumed, resumed_optimizer, 5, seed=2)
    assert _same(first, resumed)


def test_a_scheduler_sets_the_rate_both_delegates_use() -> None:
    model = _model()
    optimizer = SparseEmbeddingAdam(parameter_groups(model), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    _train(model, optimizer, 1, seed=1)
    scheduler.step()
    before = model[0].weight.detach().clone()
    _train(model, optimizer, 1, seed=1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.005, 0.005]
    # the first-row update of a fresh table equals lr * sqrt(1-b2^t)/(1-b1^t) * m/sqrt(v): check it used 0.005
    reference = _model()
    pair = _Pair(reference, lr=0.01)
    _train(reference, pair, 1, seed=1)
    for group in (*pair.sparse.param_groups, *pair.dense.param_groups):
        group["lr"] = 0.005
    _train(reference, pair, 1, seed=1)
    assert torch.equal(model[0].weight, reference[0].weight) and not torch.equal(model[0].weight, before)


def test_sparse_weight_decay_shrinks_only_the_rows_a_batch_touched() -> None:
    model = _model()
    optimizer = SparseEmbeddingAdam(parameter_groups(model), lr=0.01, sparse_weight_decay=0.1)
    before = model[0].weight.detach().clone()
    optimizer.zero_grad()
    (0.0 * model(torch.tensor([3, 7]))).sum().backward()  # a zero loss: only weight decay moves rows
    optimizer.step()
    after = model[0].weight.detach()
    touched = torch.zeros(50, dtype=torch.bool)
    touched[[3, 7]] = True
    assert torch.equal(after[~touched], before[~touched])
    assert bool((after[touched].abs() < before[touched].abs()).all())


def test_refuses_a_model_without_sparse_tables_and_negative_decay() -> None:
    with pytest.raises(ValueError, match="optimizer=adam"):
        SparseEmbeddingAdam(parameter_groups(_model(sparse=False)))
    with pytest.raises(ValueError, match="sparse_weight_decay"):
        SparseEmbeddingAdam(parameter_groups(_model()), sparse_weight_decay=-1.0)
