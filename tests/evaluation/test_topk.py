"""Exact top-k: tie rule, exclusion, padding, backends and chunking agree with a brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys.evaluation.topk import FaissSearch, TorchSearch, csr_contains, topk_from_embeddings, topk_from_scorer

BACKENDS = [TorchSearch, FaissSearch]


def brute_force(user_emb, item_emb, k, exclude=None):
    """Reference: float64 scores, excluded -> -inf, stable descending sort (= lower index first)."""
    s = user_emb.double() @ item_emb.double().T
    if exclude is not None:
        s[torch.from_numpy(exclude.toarray() != 0)] = float("-inf")
    vals, idx = torch.sort(s, dim=1, descending=True, stable=True)
    idx = idx[:, :k].masked_fill(vals[:, :k] == float("-inf"), -1)
    return torch.nn.functional.pad(idx, (0, max(0, k - idx.shape[1])), value=-1)


def random_csr(n_rows, n_cols, density, seed):
    m = sp.random(n_rows, n_cols, density=density, format="csr", random_state=seed)
    m.data[:] = 1.0
    return m


def int_embeddings(n, dim, seed, low=-2, high=3):
    """Small integer embeddings: float32 inner products are exact and ties are everywhere."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (n, dim), generator=g).float()


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_ties_exclusion_padding(backend):
    # items 0..5 have 1-d embeddings [3, 1, 3, 2, 3, 0]; user 0 = +1, user 1 = -1.
    items = torch.tensor([[3.0], [1.0], [3.0], [2.0], [3.0], [0.0]])
    users = torch.tensor([[1.0], [-1.0]])
    # user 0 scores: 3 1 3 2 3 0; item 2 excluded -> items 0 and 4 tie at 3 -> 0 before 4, then 3 (2)
    # user 1 scores: -3 -1 -3 -2 -3 0; items 5, 1, 3 excluded -> ties -3 among 0, 2, 4 -> 0, 2
    exclude = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 0], [0, 1, 0, 1, 0, 1]], dtype=np.float32))
    top = topk_from_embeddings(users, items, 3, exclude, backend=backend)
    assert top.tolist() == [[0, 4, 3], [0, 2, 4]]
    # k larger than the eligible items: user 1 has 3 eligible items -> padded with -1
    top = topk_from_embeddings(users, items, 5, exclude, backend=backend)
    assert top.tolist() == [[0, 4, 3, 1, 5], [0, 2, 4, -1, -1]]
    # k larger than the catalog
    top = topk_from_embeddings(users, items, 8, None, backend=backend)
    assert top.tolist() == [[0, 2, 4, 3, 1, 5, -1, -1], [5, 1, 3, 0, 2, 4, -1, -1]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_items_excluded_gives_padding(backend):
    users, items = torch.ones(2, 3), torch.ones(4, 3)
    exclude = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.float32))
    top = topk_from_embeddings(users, items, 2, exclude, backend=backend)
    assert top.tolist() == [[-1, -1], [0, 1]]


@pytest.mark.parametrize("n_items", [50, 3000])  # 3000 exercises the block-maximum search
@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_backends_identical_with_many_ties(n_items, chunk_size):
    users, items = int_embeddings(120, 3, 0), int_embeddings(n_items, 3, 1)
    exclude = random_csr(120, n_items, 0.2, 2)
    expected = brute_force(users, items, 10, exclude)
    for backend in BACKENDS:
        got = topk_from_embeddings(users, items, 10, exclude, backend, chunk_size)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_backends_identical_on_random_floats():
    g = torch.Generator().manual_seed(3)
    users, items = torch.randn(500, 16, generator=g), torch.randn(2000, 16, generator=g)
    exclude = random_csr(500, 2000, 0.05, 4)
    a = topk_from_embeddings(users, items, 20, exclude, TorchSearch, 128)
    b = topk_from_embeddings(users, items, 20, exclude, FaissSearch, 300)
    assert torch.equal(a, b)
    assert torch.equal(a, brute_force(users, items, 20, exclude))


def test_heavily_excluded_users_and_duplicate_items():
    # a few users exclude almost everything; duplicated item vectors tie exactly
    items = int_embeddings(40, 2, 5).repeat(3, 1)
    users = int_embeddings(30, 2, 6)
    dense = np.zeros((30, 120), dtype=np.float32)
    dense[:5, :115] = 1
    dense[5:] = np.random.default_rng(0).random((25, 120)) < 0.3
    exclude = sp.csr_matrix(dense)
    expected = brute_force(users, items, 10, exclude)
    for backend in BACKENDS:
        assert torch.equal(topk_from_embeddings(users, items, 10, exclude, backend, 8), expected)


def test_without_exclusion_and_invalid_arguments():
    users, items = int_embeddings(20, 4, 7), int_embeddings(30, 4, 8)
    assert torch.equal(topk_from_embeddings(users, items, 5), brute_force(users, items, 5))
    with pytest.raises(ValueError):
        topk_from_embeddings(users, items, 0)
    with pytest.raises(ValueError):
        topk_from_embeddings(users, items, 5, backend="annoy")
    with pytest.raises(ValueError):
        topk_from_embeddings(users, items, 5, exclude=random_csr(3, 30, 0.1, 0))


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_scorer_matches_brute_force_and_leaves_scores_alone(chunk_size):
    users, items = int_embeddings(40, 3, 9), int_embeddings(70, 3, 10)
    exclude = random_csr(40, 70, 0.3, 11)
    table = users @ items.T
    before = table.clone()
    subset = torch.tensor([3, 0, 39, 17, 3])
    got = topk_from_scorer(lambda u: table[u], subset, 12, exclude, chunk_size)
    expected = brute_force(users, items, 12, exclude)[subset]
    assert torch.equal(got, expected)
    assert torch.equal(table, before)


def test_scorer_inf_and_nan_are_never_recommended():
    scores = torch.tensor([[1.0, float("nan"), 2.0, float("-inf"), 2.0]])
    top = topk_from_scorer(lambda u: scores.expand(len(u), -1), torch.tensor([0, 0]), 4)
    assert top.tolist() == [[2, 4, 0, -1], [2, 4, 0, -1]]


def test_csr_contains():
    m = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    rows = np.array([[0], [1], [2]])
    cols = np.array([[1, 3, -1, 0], [0, 1, 2, 3], [0, 1, 2, 3]])
    expected = [[True, True, False, False], [True, False, False, False], [False] * 4]
    assert csr_contains(m, rows, cols).tolist() == expected
    assert not csr_contains(sp.csr_matrix((2, 2)), np.array([0]), np.array([0])).any()
