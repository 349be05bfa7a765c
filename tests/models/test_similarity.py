"""Similarity views agree with each other and with inner-product retrieval."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.models.similarity import CosineSimilarity, DotSimilarity

SIMS = [CosineSimilarity(), CosineSimilarity(temperature=0.1), DotSimilarity()]


@pytest.mark.parametrize("sim", SIMS, ids=["cos", "cos_t", "dot"])
def test_views_agree(sim: torch.nn.Module) -> None:
    torch.manual_seed(0)
    a, b, c = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 5, 3)
    m = sim.matrix(a, b)
    assert m.shape == (4, 4)
    assert torch.allclose(sim.pairwise(a, b), m.diagonal(), atol=1e-6)
    batched = sim.batched(a, c)
    assert batched.shape == (4, 5)
    for i in range(4):
        assert torch.allclose(batched[i], sim.matrix(a[i : i + 1], c[i])[0], atol=1e-6)


@pytest.mark.parametrize("sim", SIMS, ids=["cos", "cos_t", "dot"])
def test_prepare_preserves_ranking(sim: torch.nn.Module) -> None:
    torch.manual_seed(1)
    users, items = torch.randn(6, 4), torch.randn(20, 4)
    by_score = sim.matrix(users, items).argsort(dim=1, descending=True)
    by_ip = (sim.prepare(users) @ sim.prepare(items).T).argsort(dim=1, descending=True)
    assert torch.equal(by_score, by_ip)


def test_cosine_by_hand() -> None:
    a = torch.tensor([[3.0, 4.0]])
    b = torch.tensor([[4.0, 3.0]])
    assert torch.allclose(CosineSimilarity().pairwise(a, b), torch.tensor([24 / 25]))
    assert torch.allclose(CosineSimilarity(0.5).pairwise(a, b), torch.tensor([48 / 25]))
    assert torch.allclose(DotSimilarity().pairwise(a, b), torch.tensor([24.0]))


def test_bound() -> None:
    s = torch.tensor([0.5, 3.0])
    assert torch.allclose(CosineSimilarity(0.5).bound(s), torch.tensor([0.25, 1.0]))
    assert np.allclose(DotSimilarity().bound(s).numpy(), np.tanh([0.5, 3.0]))


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_non_positive_temperature_names_the_field(temperature: float) -> None:
    with pytest.raises(ValueError, match="model.similarity.temperature"):
        CosineSimilarity(temperature)
