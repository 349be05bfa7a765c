"""Ranking metrics: hand-computed toy case, edge cases and a torchmetrics cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torchmetrics.retrieval import (
    RetrievalHitRate,
    RetrievalMAP,
    RetrievalNormalizedDCG,
    RetrievalPrecision,
    RetrievalRecall,
)

from recsys.evaluation.metrics import popularity_percentile, ranking_metrics
from recsys.evaluation.topk import topk_from_scorer

L3 = 1 / math.log2(3)  # discount of rank 2; rank 1 -> 1, rank 3 -> 1/log2(4) = 0.5


def toy():
    """3 users x 6 items.

    user 0: top [2, 0, 5], relevant {0, 3}    -> hits [0, 1, 0]
    user 1: top [1, 4, -1] (padded), rel {1, 4, 5} -> hits [1, 1, 0]
    user 2: no relevant item -> skipped
    """
    topk = np.array([[2, 0, 5], [1, 4, -1], [0, 1, 2]])
    rel = sp.csr_matrix(
        np.array([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    )
    return topk, rel


def test_hand_computed_metrics():
    topk, rel = toy()
    # popularity 50 40 30 20 10 0: catalog = items 0..4 -> percentiles 1, .75, .5, .25, 0; item 5 -> 0
    pop = np.array([50, 40, 30, 20, 10, 0])
    r = ranking_metrics(topk, rel, ks=(1, 3), n_catalog=6, item_popularity=pop)
    assert (r.n_users_evaluated, r.n_users_skipped) == (2, 1)
    expected = {
        # K=1: user 0 misses, user 1 hits item 1 (1 of 3 relevant)
        "recall@1": (0 + 1 / 3) / 2,
        "precision@1": (0 + 1) / 2,
        "ndcg@1": (0 + 1) / 2,
        "hit_rate@1": 0.5,
        "map@1": (0 + 1 / 1) / 2,  # user 1: precision@1 = 1 over min(3, 1) = 1
        "coverage@1": 2 / 6,  # items {2, 1}
        "novelty@1": (0.5 + 0.75) / 2,
        # K=3: user 0 hit at rank 2 (2 relevant); user 1 hits at ranks 1, 2 (3 relevant)
        "recall@3": (1 / 2 + 2 / 3) / 2,
        "precision@3": (1 / 3 + 2 / 3) / 2,
        "ndcg@3": (L3 / (1 + L3) + (1 + L3) / (1 + L3 + 0.5)) / 2,
        "hit_rate@3": 1.0,
        "map@3": ((1 / 2) / 2 + (1 / 1 + 2 / 2) / 3) / 2,
        "coverage@3": 5 / 6,  # items {2, 0, 5, 1, 4}; padding and skipped user 2 not counted
        "novelty@3": ((0.5 + 1.0 + 0.0) / 3 + (0.75 + 0.0) / 2) / 2,  # padding not averaged
        "n_users": 2.0,
    }
    assert r.overall == pytest.approx(expected)


def test_activity_buckets_and_report():
    topk, rel = toy()
    r = ranking_metrics(topk, rel, ks=(3,), user_activity=np.array([3, 50, 7]))
    assert list(r.by_activity) == ["cold", "5-20", "20-100", "100+"]
    assert r.by_activity["cold"]["n_users"] == 1  # user 0
    assert r.by_activity["cold"]["recall@3"] == pytest.approx(0.5)
    assert r.by_activity["20-100"]["recall@3"] == pytest.approx(2 / 3)  # user 1
    assert r.by_activity["5-20"]["n_users"] == 0  # user 2 has no relevant items
    assert math.isnan(r.by_activity["5-20"]["recall@3"])
    assert r.to_dict()["by_activity"]["cold"]["n_users"] == 1
    table = r.table(3)
    assert table.splitlines()[0].startswith("| users | n_users | recall@3")
    assert "| cold | 1 | 0.5000" in table
    with pytest.raises(KeyError):
        r.table(7)
    edges = ranking_metrics(topk, rel, ks=(3,), user_activity=np.array([3, 50, 7]),
                            activity_buckets=(10,))
    assert list(edges.by_activity) == ["cold", "10+"]


def test_invalid_inputs():
    topk, rel = toy()
    with pytest.raises(ValueError):
        ranking_metrics(topk, rel, ks=(5,))
    with pytest.raises(ValueError):
        ranking_metrics(topk[:2], rel, ks=(3,))


def test_popularity_percentile_ties():
    # catalog items 0..3 with counts 5 5 1 9 -> average ranks 2.5 2.5 1 4 -> (r - 1) / 3
    assert popularity_percentile(np.array([5, 5, 1, 9, 0])).tolist() == pytest.approx(
        [0.5, 0.5, 0.0, 1.0, 0.0]
    )


def test_agrees_with_torchmetrics():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 60, 40, 10
    scores = torch.from_numpy(rng.uniform(0.01, 1.0, (n_users, n_items))).float()  # > 0, no ties
    excluded = rng.random((n_users, n_items)) < 0.3
    relevant = (rng.random((n_users, n_items)) < 0.15) & ~excluded
    relevant[:3] = False  # skipped users
    top = topk_from_scorer(lambda u: scores[u], torch.arange(n_users), k, sp.csr_matrix(excluded))
    ours = ranking_metrics(top, sp.csr_matrix(relevant), ks=(k,)).overall

    # torchmetrics ranks each query over all its documents: the eligible (non-excluded) items
    keep = ~excluded & relevant.any(axis=1, keepdims=True)
    preds = scores[torch.from_numpy(keep)]
    target = torch.from_numpy(relevant[keep])
    indexes = torch.from_numpy(np.nonzero(keep)[0])
    for name, metric in [
        ("recall", RetrievalRecall(top_k=k)),
        ("precision", RetrievalPrecision(top_k=k)),
        ("ndcg", RetrievalNormalizedDCG(top_k=k)),  # ideal = min(|rel|, K) hits: same definition
        ("hit_rate", RetrievalHitRate(top_k=k)),
    ]:
        assert ours[f"{name}@{k}"] == pytest.approx(metric(preds, target, indexes).item(), abs=1e-6)

    # torchmetrics' AP@K divides by the hits in the top K, ours by min(|rel|, K): they agree only
    # for users whose min(|rel|, K) relevant items were all retrieved.
    n_rel = relevant.sum(axis=1)
    hits = np.array([relevant[u, top[u].numpy()].sum() for u in range(n_users)])
    full = (n_rel > 0) & (hits == np.minimum(n_rel, k))
    assert full.sum() >= 3
    sub_keep = keep & full[:, None]
    tm_map = RetrievalMAP(top_k=k)(
        scores[torch.from_numpy(sub_keep)],
        torch.from_numpy(relevant[sub_keep]),
        torch.from_numpy(np.nonzero(sub_keep)[0]),
    )
    sub_rel = sp.csr_matrix(relevant & full[:, None])
    assert ranking_metrics(top, sub_rel, ks=(k,)).overall[f"map@{k}"] == pytest.approx(
        tm_map.item(), abs=1e-6
    )
