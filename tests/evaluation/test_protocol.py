"""Evaluation protocol: relevance, exclusion, catalog restriction; embeddings and scorers through one driver."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.evaluation.topk import FaissSearch, TorchSearch
import torch

from recsys.evaluation.evaluate import as_numpy_items, build_task, evaluate_scorer, evaluate_vectors
from recsys.evaluation.metrics import ranking_metrics
from recsys.evaluation.protocol import EvaluationProtocol


def test_build_relevant_threshold_and_catalog():
    p = EvaluationProtocol(relevance_threshold=4.0)
    users = np.array([0, 0, 1, 1, 2])
    items = np.array([1, 2, 0, 3, 3])
    ratings = np.array([4.0, 3.5, 5.0, 4.5, 4.0])
    catalog = np.array([True, True, True, False])  # item 3 never seen in training
    rel = p.build_relevant(users, items, ratings, 3, 4, catalog)
    assert rel.toarray().tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    everything = EvaluationProtocol(relevance_threshold=None)
    rel = everything.build_relevant(torch.tensor(users), torch.tensor(items), ratings, 3, 4)
    assert rel.sum() == 5


def test_build_exclude_is_a_binary_union():
    ex = EvaluationProtocol.build_exclude(2, 3, ([0, 1], [2, 0]), (np.array([0, 0]), [2, 1]))
    assert ex.toarray().tolist() == [[0, 1, 1], [1, 0, 0]]
    assert EvaluationProtocol.build_exclude(2, 3).nnz == 0


def assert_same(a, b):
    assert a.overall == pytest.approx(b.overall)
    assert a.by_activity.keys() == b.by_activity.keys()
    for bucket, metrics in a.by_activity.items():  # empty buckets hold NaN
        assert metrics == pytest.approx(b.by_activity[bucket], nan_ok=True)



def test_protocol_normalises_yaml_lists_and_rejects_bad_settings():
    p = EvaluationProtocol(ks=[5, 10], activity_buckets=[3, 30])
    assert p.ks == (5, 10) and p.activity_buckets == (3, 30)
    with pytest.raises(ValueError, match="ks"):
        EvaluationProtocol(ks=[0, 10])
    with pytest.raises(ValueError, match="backend"):
        EvaluationProtocol(backend="annoy")


def _vectors(data, seed: int = 0, dim: int = 4):
    g = torch.Generator().manual_seed(seed)
    users = torch.randint(-2, 3, (data.n_users, dim), generator=g).float()  # integer scores: many ties
    items = torch.randint(-2, 3, (data.n_items, dim), generator=g).float()
    return users, items


@pytest.mark.parametrize("backend", [TorchSearch, FaissSearch])
def test_embeddings_and_scorer_agree(bundled_split, backend):
    data = bundled_split
    users, items = _vectors(data)
    task = build_task(data, "val", EvaluationProtocol(ks=(5, 10), backend=backend, chunk_size=64))
    a, top_a = evaluate_vectors(task, data, users, items)
    b, top_b = evaluate_scorer(task, data, lambda u: users[u] @ items.T)
    assert torch.equal(top_a, top_b)
    assert_same(a, b)
    assert set(a.by_activity) == {"cold", "5-20", "20-100", "100+"}
    assert 0 < a.overall["coverage@10"] <= 1.0


def test_matches_manual_pipeline_and_never_recommends_outside_catalog(bundled_split):
    data = bundled_split
    users, items = _vectors(data, seed=1)
    protocol = EvaluationProtocol(ks=(10,), relevance_threshold=None, activity_buckets=(50,))
    task = build_task(data, "test", protocol)
    report, top = evaluate_vectors(task, data, users, items)

    # by hand: every item scored, train + val pairs and non-catalogue items set to -inf
    scores = (users @ items.T).double()
    for part in (data.train, data.val):
        scores[torch.from_numpy(part.user_idx), torch.from_numpy(part.item_idx)] = float("-inf")
    outside = np.ones(data.n_items, dtype=bool)
    outside[data.catalog()] = False
    scores[:, torch.from_numpy(outside)] = float("-inf")
    evaluated = task.users
    vals, idx = torch.sort(scores[evaluated], dim=1, descending=True, stable=True)
    manual_top = idx[:, :10].masked_fill(vals[:, :10] == float("-inf"), -1)
    assert torch.equal(torch.from_numpy(as_numpy_items(task, top)), manual_top)
    assert not np.isin(manual_top.numpy(), np.flatnonzero(outside)).any()

    relevant = task.relevant[evaluated.numpy()]
    manual = ranking_metrics(
        top, relevant, (10,), len(task.catalog), data.item_counts()[task.catalog],
        data.user_counts()[evaluated.numpy()], activity_buckets=(50,),
    )
    manual.overall["n_users_skipped"] = task.n_users_skipped
    assert_same(report, manual)
    assert set(report.by_activity) == {"cold", "50+"}
    # relevance null: every held-out test item in the catalogue counts
    in_catalog = np.isin(data.test.item_idx, data.catalog())
    assert task.relevant.nnz == len(np.unique(np.stack([data.test.user_idx, data.test.item_idx])[:, in_catalog], axis=1).T)
