"""Evaluation protocol: relevance, exclusion, catalog restriction, embeddings vs scorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def _data(seed=0, n_users=50, n_items=30):
    rng = np.random.default_rng(seed)
    train_u = rng.integers(0, n_users, 400)
    train_i = rng.integers(0, n_items - 3, 400)  # the last 3 items are outside the catalog
    test_u, test_i = rng.integers(0, n_users, 150), rng.integers(0, n_items, 150)
    ratings = rng.choice([3.0, 4.0, 5.0], 150)
    g = torch.Generator().manual_seed(seed)
    user_emb = torch.randint(-2, 3, (n_users, 4), generator=g).float()
    item_emb = torch.randint(-2, 3, (n_items, 4), generator=g).float()
    return train_u, train_i, test_u, test_i, ratings, user_emb, item_emb


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_embeddings_and_scorer_agree(backend):
    train_u, train_i, test_u, test_i, ratings, user_emb, item_emb = _data()
    p = EvaluationProtocol(ks=(5, 10), backend=backend, chunk_size=16)
    catalog = np.bincount(train_i, minlength=30) > 0
    rel = p.build_relevant(test_u, test_i, ratings, 50, 30, catalog)
    ex = p.build_exclude(50, 30, (train_u, train_i))
    a = p.evaluate_embeddings(user_emb, item_emb, (train_u, train_i), ex, rel)
    b = p.evaluate_scorer(lambda u: user_emb[u] @ item_emb.T, (train_u, train_i), ex, rel)
    assert_same(a, b)
    assert a.n_users_evaluated + a.n_users_skipped == 50
    assert set(a.by_activity) == {"cold", "5-20", "20-100", "100+"}
    assert a.overall["coverage@10"] <= 1.0


def test_matches_manual_pipeline_and_never_recommends_outside_catalog():
    train_u, train_i, test_u, test_i, ratings, user_emb, item_emb = _data(1)
    p = EvaluationProtocol(ks=(10,), relevance_threshold=None)
    catalog = np.bincount(train_i, minlength=30) > 0
    rel = p.build_relevant(test_u, test_i, ratings, 50, 30, catalog)
    ex = p.build_exclude(50, 30, (train_u, train_i))
    report = p.evaluate_embeddings(user_emb, item_emb, (train_u, train_i), ex, rel)

    scores = (user_emb @ item_emb.T).double()
    scores[torch.from_numpy(ex.toarray() > 0)] = float("-inf")
    scores[:, torch.from_numpy(~catalog)] = float("-inf")
    vals, idx = torch.sort(scores, dim=1, descending=True, stable=True)
    top = idx[:, :10].masked_fill(vals[:, :10] == float("-inf"), -1).numpy()
    manual = ranking_metrics(
        top, rel, (10,), int(catalog.sum()), np.bincount(train_i, minlength=30),
        np.bincount(train_u, minlength=50),
    )
    assert_same(report, manual)

    # with every item allowed, the untrained items compete too
    open_p = EvaluationProtocol(ks=(10,), relevance_threshold=None, catalog_only=False)
    opened = open_p.evaluate_embeddings(user_emb, item_emb, (train_u, train_i), ex, rel)
    assert opened.n_users_evaluated == report.n_users_evaluated
