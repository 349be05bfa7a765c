"""Full-ranking metrics from top-k lists and a sparse relevance matrix (binary relevance).

Per user with at least one relevant item, at cut-off K (``hits`` = relevant items in the top K,
``rel`` = number of relevant items):

- ``recall@K = hits / rel``; ``precision@K = hits / K``; ``hit_rate@K = 1[hits > 0]``
- ``ndcg@K = DCG / IDCG`` with ``DCG = sum_{hit at rank r} 1 / log2(r + 1)`` (ranks from 1) and
  IDCG the DCG of ``min(rel, K)`` hits at the top
- ``map@K = sum_{hit at rank r} precision@r / min(rel, K)``
- ``novelty@K`` = mean popularity percentile of the recommended items (0 = least popular
  catalog item, 1 = most popular; lower is more novel), averaged per user then over users

These are averaged over users; ``coverage@K`` = distinct items in the evaluated users' top K,
divided by ``n_catalog``. Users without relevant items are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.stats
import torch

from recsys.evaluation.topk import csr_contains

METRIC_NAMES = ("recall", "precision", "ndcg", "hit_rate", "map", "coverage", "novelty")
_PER_USER = tuple(m for m in METRIC_NAMES if m != "coverage")  # coverage is per list, not per user


@dataclass
class RankingReport:
    """Metrics of one evaluation.

    Attributes:
        ks: cut-offs.
        overall: ``{"recall@10": ..., "ndcg@10": ..., "coverage@10": ..., "n_users": ...}``.
        by_activity: bucket label -> the same keys over that bucket's users (NaN when empty).
        n_users_evaluated: users with at least one relevant item.
        n_users_skipped: users without relevant items.
    """

    ks: tuple[int, ...]
    overall: dict[str, float]
    by_activity: dict[str, dict[str, float]] = field(default_factory=dict)
    n_users_evaluated: int = 0
    n_users_skipped: int = 0

    def to_dict(self) -> dict:
        """Plain-python copy (JSON-serialisable apart from NaN in empty buckets)."""
        return {
            "ks": list(self.ks),
            "overall": dict(self.overall),
            "by_activity": {b: dict(m) for b, m in self.by_activity.items()},
            "n_users_evaluated": self.n_users_evaluated,
            "n_users_skipped": self.n_users_skipped,
        }

    def table(self, k: int) -> str:
        """Markdown table of every metric at cut-off ``k``, overall and per activity bucket."""
        cols = [c for c in METRIC_NAMES if f"{c}@{k}" in self.overall]
        if not cols:
            raise KeyError(f"no metrics at k={k}; cut-offs are {self.ks}")
        lines = [
            "| users | n_users | " + " | ".join(f"{c}@{k}" for c in cols) + " |",
            "|---|---:|" + "---:|" * len(cols),
        ]
        for name, m in [("all", self.overall), *self.by_activity.items()]:
            cells = " | ".join(f"{m[f'{c}@{k}']:.4f}" for c in cols)
            lines.append(f"| {name} | {int(m['n_users'])} | {cells} |")
        return "\n".join(lines)


def popularity_percentile(item_popularity: np.ndarray) -> np.ndarray:
    """Popularity percentile of each item among catalog items (popularity > 0).

    Args:
        item_popularity: training interaction counts of shape (I,).

    Returns:
        Float array (I,): ``(average rank - 1) / (n_catalog - 1)`` over catalog items, so the
        least popular item gets 0 and the most popular 1; items outside the catalog get 0.
    """
    pop = np.asarray(item_popularity, dtype=np.float64)
    pct = np.zeros(pop.shape[0])
    in_cat = pop > 0
    n_cat = int(in_cat.sum())
    if n_cat:
        pct[in_cat] = (scipy.stats.rankdata(pop[in_cat], method="average") - 1) / max(n_cat - 1, 1)
    return pct


def activity_labels(edges: tuple[int, ...]) -> list[str]:
    """Bucket labels for training-count edges, e.g. (5, 20, 100) -> cold, 5-20, 20-100, 100+."""
    mids = [f"{a}-{b}" for a, b in zip(edges[:-1], edges[1:])]
    return ["cold", *mids, f"{edges[-1]}+"] if edges else ["all"]


def _per_user(hit: np.ndarray, n_rel: np.ndarray, pct: np.ndarray | None, k: int) -> dict:
    """Per-user metric arrays (n,) at cut-off k from the (n, Kmax) hit matrix."""
    h = hit[:, :k].astype(np.float64)
    n_hits = h.sum(axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(disc)[np.minimum(n_rel, k) - 1]
    prec_at = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    out = {
        "recall": n_hits / n_rel,
        "precision": n_hits / k,
        "ndcg": (h * disc).sum(axis=1) / ideal,
        "hit_rate": (n_hits > 0).astype(np.float64),
        "map": (h * prec_at).sum(axis=1) / np.minimum(n_rel, k),
    }
    if pct is not None:
        p = pct[:, :k]
        n_rec = np.isfinite(p).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["novelty"] = np.where(n_rec > 0, np.nansum(p, axis=1) / n_rec, np.nan)
    return out


def _aggregate(per_k: dict, topk: np.ndarray, sel: np.ndarray, ks, n_catalog: int) -> dict:
    """Average per-user metrics over the users in boolean mask ``sel``; add coverage."""
    n = int(sel.sum())
    res: dict[str, float] = {"n_users": float(n)}
    for k in ks:
        for name in _PER_USER:
            if name in per_k[k]:
                vals = per_k[k][name][sel]
                res[f"{name}@{k}"] = float(np.nanmean(vals)) if n and np.isfinite(vals).any() \
                    else float("nan")
        items = topk[sel, :k]
        distinct = np.unique(items[items >= 0]).size
        res[f"coverage@{k}"] = distinct / n_catalog if n else float("nan")
    return res


def ranking_metrics(
    topk: torch.Tensor | np.ndarray,
    relevant: sp.csr_matrix,
    ks: tuple[int, ...] = (5, 10, 20),
    n_catalog: int | None = None,
    item_popularity: np.ndarray | None = None,
    user_activity: np.ndarray | None = None,
    activity_buckets: tuple[int, ...] = (5, 20, 100),
) -> RankingReport:
    """Ranking metrics of top-k lists against held-out relevant items.

    Args:
        topk: recommended items of shape (U, Kmax), best first, -1 for padding.
        relevant: CSR of shape (U, I); stored entries are the relevant items.
        ks: cut-offs, each at most Kmax.
        n_catalog: denominator of coverage; defaults to I.
        item_popularity: training counts of shape (I,) for novelty; no novelty when None.
        user_activity: training counts of shape (U,) for the per-bucket breakdown.
        activity_buckets: increasing bucket edges on ``user_activity``.

    Returns:
        RankingReport over users with at least one relevant item.
    """
    topk = topk.detach().cpu().numpy() if isinstance(topk, torch.Tensor) else np.asarray(topk)
    topk = topk.astype(np.int64, copy=False)
    relevant = sp.csr_matrix(relevant)
    n_users, n_items = relevant.shape
    ks = tuple(int(k) for k in ks)
    if topk.ndim != 2 or topk.shape[0] != n_users:
        raise ValueError(f"topk has shape {topk.shape}, expected ({n_users}, Kmax)")
    if max(ks) > topk.shape[1]:
        raise ValueError(f"cut-off {max(ks)} exceeds the {topk.shape[1]} items per user")
    n_catalog = n_items if n_catalog is None else int(n_catalog)

    n_rel_all = np.diff(relevant.indptr)
    users = np.nonzero(n_rel_all > 0)[0]
    top = topk[users]
    hit = csr_contains(relevant, users[:, None], top)
    pct = None
    if item_popularity is not None:
        pct = np.where(top >= 0, popularity_percentile(item_popularity)[np.maximum(top, 0)],
                       np.nan)
    per_k = {k: _per_user(hit, n_rel_all[users], pct, k) for k in ks}

    everyone = np.ones(users.size, dtype=bool)
    overall = _aggregate(per_k, top, everyone, ks, n_catalog)
    by_activity: dict[str, dict[str, float]] = {}
    if user_activity is not None:
        bucket = np.digitize(np.asarray(user_activity)[users], np.asarray(activity_buckets))
        for b, label in enumerate(activity_labels(tuple(activity_buckets))):
            by_activity[label] = _aggregate(per_k, top, bucket == b, ks, n_catalog)
    return RankingReport(
        ks=ks,
        overall=overall,
        by_activity=by_activity,
        n_users_evaluated=int(users.size),
        n_users_skipped=int(n_users - users.size),
    )
