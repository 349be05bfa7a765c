"""Samplers draw items with the probabilities their log_q reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys.losses.negatives import PopularityNegativeSampler, UniformNegativeSampler

COUNTS = torch.tensor([100.0, 0.0, 30.0, 5.0, 1.0, 60.0, 0.0, 12.0])
DRAWS = 200_000


def chi_square_ok(sample: torch.Tensor, log_q: torch.Tensor) -> None:
    """Pearson chi-square over items with positive probability; far below the 1e-6 tail."""
    probs = log_q.exp().double().numpy()
    observed = np.bincount(sample.flatten().numpy(), minlength=len(probs))
    assert observed[probs == 0].sum() == 0
    keep = probs > 0
    expected = probs[keep] * sample.numel()
    chi2 = float(((observed[keep] - expected) ** 2 / expected).sum())
    dof = int(keep.sum()) - 1
    assert chi2 < dof + 7 * math.sqrt(2 * dof) + 10, chi2


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_uniform_sampler() -> None:
    s = UniformNegativeSampler(num_negatives=5)
    s.setup(COUNTS)
    sample = s.sample(DRAWS // 5, torch.device("cpu"))
    assert sample.shape == (DRAWS // 5, 5) and sample.dtype == torch.long
    log_q = s.log_q(torch.arange(8))
    assert torch.allclose(log_q, torch.full((8,), -math.log(8)))
    chi_square_ok(sample, log_q)


@pytest.mark.parametrize("alpha", [0.0, 0.75, 1.0])
def test_popularity_sampler_follows_counts_power_alpha(alpha: float) -> None:
    s = PopularityNegativeSampler(num_negatives=4, alpha=alpha)
    s.setup(COUNTS)
    weights = np.where(COUNTS.numpy() > 0, COUNTS.numpy() ** alpha, 0.0)
    log_q = s.log_q(torch.arange(8))
    with np.errstate(divide="ignore"):
        assert np.allclose(log_q.numpy(), np.log(weights / weights.sum()), atol=1e-6)
    sample = s.sample(DRAWS // 4, "cpu")
    assert sample.shape == (DRAWS // 4, 4)
    chi_square_ok(sample, log_q)


def test_log_q_keeps_shape() -> None:
    s = PopularityNegativeSampler()
    s.setup(COUNTS)
    idx = torch.tensor([[0, 2], [5, 7]])
    assert s.log_q(idx).shape == (2, 2)
    u = UniformNegativeSampler()
    u.setup(COUNTS)
    assert u.log_q(idx).shape == (2, 2)


def test_samplers_require_setup() -> None:
    for s in (UniformNegativeSampler(), PopularityNegativeSampler()):
        with pytest.raises(RuntimeError):
            s.sample(2, "cpu")


def test_sampler_tables_are_not_checkpointed() -> None:
    s = PopularityNegativeSampler()
    s.setup(COUNTS)
    assert s.state_dict() == {}
