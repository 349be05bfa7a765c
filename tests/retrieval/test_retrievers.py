"""The three retrievers answer the same searches: exact, Qdrant Edge (exact and HNSW), Qdrant
server (qdrant-client's local mode). Exclusions and filters are index filters in each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from qdrant_client import QdrantClient

from recsys.retrieval.base import ItemPayload, SearchFilters
from recsys.retrieval.exact import ExactRetriever
from recsys.retrieval.qdrant_edge import EdgeRetriever, build_edge_index
from recsys.retrieval.qdrant_server import QdrantServerRetriever, index_collection

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance"]


@pytest.fixture(scope="module")
def catalogue() -> tuple[np.ndarray, ItemPayload]:
    rng = np.random.default_rng(0)
    n, dim = 3000, 16
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    items = pd.DataFrame({
        "item_idx": np.arange(n),
        "genres": [[GENRES[i % 5], GENRES[(i * 7) % 5]] for i in range(n)],
        "year": np.where(np.arange(n) % 50 == 0, np.nan, 1950 + np.arange(n) % 70).astype(float),
        "popularity": np.where(np.arange(n) % 10 == 9, 0, 1 + np.arange(n) % 13),  # every 10th item unseen in training
    })  # fmt: skip
    return vectors, ItemPayload.from_items(items)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(40, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def edge_path(tmp_path_factory: pytest.TempPathFactory, catalogue) -> Path:
    vectors, payload = catalogue
    return build_edge_index(tmp_path_factory.mktemp("edge") / "index", vectors, payload)


def brute_force(vectors, payload, query, k, exclude=(), filters=None) -> list[int]:
    keep = payload.mask(filters)
    scores = vectors[payload.item_idx] @ query
    order = [int(payload.item_idx[p]) for p in np.argsort(-scores, kind="stable") if keep[p] and int(payload.item_idx[p]) not in set(exclude)]
    return order[:k]


def test_payload_catalogue_is_the_trained_items(catalogue) -> None:
    _, payload = catalogue
    assert len(payload.item_idx) == 2700 and not np.any(payload.item_idx % 10 == 9)
    mask = payload.mask(SearchFilters(genres=("Horror",), year_min=2000, year_max=2010))
    for p in np.flatnonzero(mask):
        assert "Horror" in payload.genres[p] and 2000 <= payload.year[p] <= 2010
    assert mask.sum() > 0 and not np.any(payload.mask(SearchFilters(year_min=1900))[np.isnan(payload.year)])


def test_filters_are_validated() -> None:
    with pytest.raises(ValueError, match="year_min"):
        SearchFilters(year_min=2000, year_max=1990)
    with pytest.raises(ValueError, match="genres"):
        SearchFilters(genres=())


@pytest.mark.parametrize("filters", [None, SearchFilters(genres=("Drama", "Horror")), SearchFilters(year_min=1990, year_max=1999)])
def test_exact_matches_brute_force_with_exclusions(catalogue, queries, filters) -> None:
    vectors, payload = catalogue
    retriever = ExactRetriever(vectors, payload)
    exclude = [list(range(q * 7, q * 7 + 300, 3)) for q in range(len(queries))]
    result = retriever.search(queries, 10, exclude, filters)
    for q, query in enumerate(queries):
        assert result.ids[q].tolist() == brute_force(vectors, payload, query, 10, exclude[q], filters)
        assert not set(result.ids[q].tolist()) & set(exclude[q])


def test_exact_pads_when_fewer_items_pass(catalogue, queries) -> None:
    vectors, payload = catalogue
    narrow = SearchFilters(genres=("Horror",), year_min=1950, year_max=1950)
    n_pass = int(payload.mask(narrow).sum())
    result = ExactRetriever(vectors, payload).search(queries[:2], n_pass + 5, None, narrow)
    assert (result.ids[:, n_pass:] == -1).all() and np.isneginf(result.scores[:, n_pass:]).all()


def test_bad_queries_are_refused(catalogue) -> None:
    vectors, payload = catalogue
    retriever = ExactRetriever(vectors, payload)
    with pytest.raises(ValueError, match="shape"):
        retriever.search(np.zeros((2, 3)), 10)
    with pytest.raises(ValueError, match="k must be"):
        retriever.search(np.zeros((1, 16)), 0)
    with pytest.raises(ValueError, match="exclude_ids"):
        retriever.search(np.zeros((2, 16)), 5, [[1]])


def test_edge_exact_equals_exact_and_hnsw_recall(catalogue, queries, edge_path: Path) -> None:
    vectors, payload = catalogue
    exact = ExactRetriever(vectors, payload)
    exclude = [list(range(q, q + 600, 2)) for q in range(len(queries))]
    filters = SearchFilters(genres=("Comedy", "Romance"))
    want = exact.search(queries, 10, exclude, filters).ids
    brute = EdgeRetriever(edge_path, dim=16, exact=True)
    try:
        assert (brute.search(queries, 10, exclude, filters).ids == want).all()
    finally:
        brute.close()
    hnsw = EdgeRetriever(edge_path, dim=16, hnsw_ef=128)
    try:
        got = hnsw.search(queries, 10, exclude, filters).ids
    finally:
        hnsw.close()
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.98
    for row, excluded in zip(got, exclude):
        assert not set(row.tolist()) & set(excluded)


def test_edge_index_is_written_once_and_opened_by_one_process(catalogue, edge_path: Path) -> None:
    vectors, payload = catalogue
    with pytest.raises(FileExistsError, match="exists"):
        build_edge_index(edge_path, vectors, payload)
    assert not list(edge_path.parent.glob(".index.tmp-*"))  # no half-built folder left behind


# local mode is brute force and ignores payload indexes; both are what a server has and the test does not need
@pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning", "ignore:Local mode performs exact:UserWarning")
def test_server_retriever_matches_exact_and_switches_alias(catalogue, queries) -> None:
    vectors, payload = catalogue
    client = QdrantClient(":memory:")
    assert index_collection(client, "items", "v1", vectors, payload) == "items-v1"
    server = QdrantServerRetriever(client, "items", dim=16, exact=True)
    exclude = [list(range(q, q + 300, 3)) for q in range(len(queries))]
    filters = SearchFilters(year_min=1980)
    want = ExactRetriever(vectors, payload).search(queries, 10, exclude, filters).ids
    assert (server.search(queries, 10, exclude, filters).ids == want).all()
    # re-index: a new collection behind the same alias, the old one removed
    flipped = -vectors
    index_collection(client, "items", "v2", flipped, payload)
    assert {c.name for c in client.get_collections().collections} == {"items-v2"}
    assert (server.search(queries, 10).ids == ExactRetriever(flipped, payload).search(queries, 10).ids).all()
    with pytest.raises(ValueError, match="exists"):
        index_collection(client, "items", "v2", vectors, payload)
    with pytest.raises(ValueError, match="no collection alias"):
        QdrantServerRetriever(client, "missing", dim=16)
