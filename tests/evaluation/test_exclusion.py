"""Device-side exclusion masks and the candidate searches that use them agree with the host CSR."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys.evaluation.exclusion import ChunkExclusions, Exclusions, mask_csr_
from recsys.evaluation.topk import TorchSearch, topk_from_embeddings


def brute_force(user_emb, item_emb, k, exclude):
    """float64 scores, excluded -> -inf, stable descending sort (ties: lower index first)."""
    s = user_emb.double() @ item_emb.double().T
    s[torch.from_numpy(exclude.toarray() != 0)] = float("-inf")
    vals, idx = torch.sort(s, dim=1, descending=True, stable=True)
    return idx[:, :k].masked_fill(vals[:, :k] == float("-inf"), -1)


def random_csr(n_rows, n_cols, density, seed):
    m = sp.random(n_rows, n_cols, density=density, format="csr", random_state=seed)
    m.data[:] = 1.0
    return m


def int_embeddings(n, dim, seed):
    """Small integer vectors: exact float32 inner products, ties everywhere."""
    return torch.randint(-2, 3, (n, dim), generator=torch.Generator().manual_seed(seed)).float()


@pytest.mark.parametrize("span", [(0, 7), (3, 4), (5, 30), (29, 30), (10, 10)])
def test_span_mask_equals_the_csr_mask(span: tuple[int, int]) -> None:
    csr = random_csr(30, 50, 0.05, 0)  # some rows empty
    csr.data[::3] = 0  # explicit zeros are stored entries: excluded too
    start, stop = span
    got = Exclusions(csr, torch.device("cpu")).mask_span_(torch.zeros(stop - start, 56), start, stop)
    want = mask_csr_(torch.zeros(stop - start, 56), csr[start:stop])
    assert torch.equal(got, want)
    assert torch.isinf(got[:, 50:]).sum() == 0  # padding columns beyond the catalogue untouched


def test_chunk_of_listed_rows_uses_the_host_rows() -> None:
    csr = random_csr(20, 40, 0.3, 1)
    rows = np.array([2, 5, 11])
    chunk = ChunkExclusions(Exclusions(csr, torch.device("cpu")), rows)
    assert (chunk.csr() != csr[rows]).nnz == 0
    assert torch.equal(chunk.mask_(torch.zeros(3, 40)), mask_csr_(torch.zeros(3, 40), csr[rows]))


def test_nothing_excluded() -> None:
    for csr in (None, sp.csr_matrix((4, 6))):
        excl = Exclusions(csr, torch.device("cpu"))
        assert torch.equal(excl.mask_span_(torch.zeros(2, 6), 1, 3), torch.zeros(2, 6))
        assert excl.sub(np.arange(2)) is None


@pytest.mark.parametrize("block_search", [True, False])
@pytest.mark.parametrize("chunk_size", [1, 13, 4096])
def test_one_topk_pass_and_block_search_agree(block_search: bool, chunk_size: int) -> None:
    # many exact ties (integer vectors) force whole-catalogue re-ranking of some users
    users, items = int_embeddings(90, 3, 20), int_embeddings(3000, 3, 21)
    exclude = random_csr(90, 3000, 0.2, 22)
    stats: dict[str, int] = {}
    search = functools.partial(TorchSearch, block_search=block_search)
    got = topk_from_embeddings(users, items, 10, exclude, search, chunk_size, stats)
    assert torch.equal(got, brute_force(users, items, 10, exclude))
    assert stats["whole_catalog_rows"] > 0


def test_random_floats_need_no_whole_catalogue_ranking() -> None:
    g = torch.Generator().manual_seed(4)
    users, items = torch.randn(200, 32, generator=g), torch.randn(5000, 32, generator=g)
    exclude = random_csr(200, 5000, 0.02, 5)
    stats: dict[str, int] = {}
    got = topk_from_embeddings(users, items, 20, exclude, TorchSearch, 64, stats)
    assert torch.equal(got, brute_force(users, items, 20, exclude))
    assert stats == {"whole_catalog_rows": 0}
