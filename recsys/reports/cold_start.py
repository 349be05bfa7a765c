"""Cold start, measured: how good the onboarding path is after n ratings, per tier.

Usage:
    recsys-cold-start --run outputs/cold_start_run --out experiments

Protocol (the offline test protocol: ``build_task(data, "test", protocol)`` with the run's ``eval``):

* users: the test split's evaluated users (at least one relevant test rating); with
  ``--max-users N`` the first N of them by user index;
* a user's first n ratings: their first n TRAIN ratings by timestamp (ties: lower item index);
  a user with fewer than n uses all they have (counted per n in the report); ``n = all``: every
  train + val rating of a catalogue item, everything serving knows of a known user;
* the ranking always leaves out every train + val item of the user (the offline test exclusions,
  passed as the retriever's ``exclude_ids``), so ``n = all`` is comparable with the trained embedding;
* relevance and metrics: the task's relevance matrix and ``ranking_metrics``, as offline.

Every condition runs through the serving code: a :class:`Recommender` over a temporary bundle of
the run (``write_bundle(..., build_index=False)``, the exact retriever) with the tiers and fold-in
settings of ``conf/serve/serve.yaml``: ``popular``; ``personal`` (the fold-in vector); ``blend w=..``
(fixed personal weights, ``--weights``); ``served``, the tier policy (popular, the blend at
``n / personal_from``, personal); and the user's trained embedding as the reference.

Thresholds: ``blend_from`` = the smallest measured n >= 1 where the blend beats popular;
``personal_from`` = the smallest measured n >= blend_from where personal >= the blend. "The blend" at
n is the best blend weight measured there: the fixed ones, and the policy's n/personal_from where the
policy blends. Writes ``cold_start.{md,png,json}`` into ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tqdm import tqdm

import recsys
from recsys.data.interactions import SplitData
from recsys.evaluation.evaluate import build_task, evaluate_vectors
from recsys.evaluation.full_ranking import FullRankingTask
from recsys.evaluation.metrics import _per_user, ranking_metrics
from recsys.evaluation.topk import csr_contains
from recsys.retrieval.base import SearchResult
from recsys.reports.cold_start_report import write_outputs
from recsys.serving.tiers import BLEND, PERSONAL, POPULAR, TierPolicy

ALL = "all"
NAME = "cold_start"
METRIC = "ndcg@10"
OUTPUT_ROOT = recsys.REPO_ROOT / "outputs" / NAME
DEFAULT_NS = "0,1,3,5,10,15,20,50,all"
DEFAULT_WEIGHTS = "0.25,0.5,0.75,0.9"
DEFAULT_POPULARITY_WEIGHTS = "1,0.5,0.25,0.1,0.05"

N = int | str  # a number of ratings, or ALL
# (recommender, profile vector (D,) or None, ratings in the profile, excluded item indices, k) -> top k
Ranker = Callable[[Any, "np.ndarray | None", int, np.ndarray, int], SearchResult]


@dataclass
class Population:
    """The measured users and what is known of them (item indices, ordered by timestamp).

    Attributes:
        users: (U,) user indices, the evaluated test users.
        train: per user, (items (m,), ratings (m,)) of their train ratings.
        known: per user, (items, ratings) of their train + val ratings of catalogue items.
        exclude: per user, the item indices every ranking leaves out (the offline test exclusions).
    """

    users: np.ndarray
    train: list[tuple[np.ndarray, np.ndarray]]
    known: list[tuple[np.ndarray, np.ndarray]]
    exclude: list[np.ndarray]

    def profiles(self, n: N) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each user's first ``n`` train ratings (all they have when fewer); ``ALL``: ``known``."""
        return self.known if n == ALL else [(i[: int(n)], r[: int(n)]) for i, r in self.train]


def _by_user(parts: Sequence[Any], users: np.ndarray, keep_items: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    user = np.concatenate([p.user_idx for p in parts])
    item = np.concatenate([p.item_idx for p in parts])
    rating = np.concatenate([p.rating for p in parts]).astype(np.float32)
    stamp = np.concatenate([p.timestamp for p in parts])
    keep = np.isin(user, users) & (keep_items[item] if keep_items is not None else True)
    user, item, rating, stamp = user[keep], item[keep], rating[keep], stamp[keep]
    order = np.lexsort((item, stamp, user))
    user, item, rating = user[order], item[order], rating[order]
    bounds = np.searchsorted(user, np.concatenate([users, [np.iinfo(np.int64).max]]))
    return [(item[a:b], rating[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def population(data: SplitData, task: FullRankingTask, max_users: int | None = None) -> Population:
    """The test task's evaluated users (the first ``max_users`` by index) and their ratings."""
    users = np.sort(task.users.numpy())[:max_users]
    in_catalog = np.zeros(data.n_items, dtype=bool)
    in_catalog[task.catalog] = True
    return Population(
        users=users,
        train=_by_user([data.train], users),
        known=_by_user([data.train, data.val], users, in_catalog),
        exclude=[task.catalog[task.exclude[int(u)].indices] for u in users],
    )


# ---- conditions: each ranks one user the way the service would ---------------------------------
def popular(rec: Any, vector: np.ndarray | None, n: int, exclude: np.ndarray, k: int) -> SearchResult:
    return rec._popular(k, exclude, None)


def personal(rec: Any, vector: np.ndarray | None, n: int, exclude: np.ndarray, k: int) -> SearchResult:
    """The vector's top k; popular when there is none (a profile without ratings)."""
    return popular(rec, None, n, exclude, k) if vector is None else rec._search(vector, k, exclude, None)


def blend(weight: float) -> Ranker:
    """The service's two-stage blend at a fixed personal ``weight`` (a zero vector without ratings)."""

    def rank(rec: Any, vector: np.ndarray | None, n: int, exclude: np.ndarray, k: int) -> SearchResult:
        vector = np.zeros(rec.bundle.dim, dtype=np.float32) if vector is None else vector
        return rec._blend(vector, weight, k, exclude, None)

    return rank


def served(policy: TierPolicy) -> Ranker:
    """What ``Recommender.profile_search`` serves under ``policy`` (exclusions: the offline ones).

    The blend runs on a shallow copy of the recommender holding ``policy`` (its popularity_weight
    and candidates), so the service's own ``_blend`` scores it.
    """
    views: dict[int, Any] = {}

    def rank(rec: Any, vector: np.ndarray | None, n: int, exclude: np.ndarray, k: int) -> SearchResult:
        tier = policy.tier(n)
        if tier == POPULAR or vector is None:
            return popular(rec, None, n, exclude, k)
        if tier == PERSONAL:
            return rec._search(vector, k, exclude, None)
        if id(rec) not in views:
            views[id(rec)] = copy.copy(rec)
            views[id(rec)].tiers = policy
        return views[id(rec)]._blend(vector, policy.weight(n), k, exclude, None)

    return rank


# ---- measurement --------------------------------------------------------------------------------
def fold_in(rec: Any, profiles: list[tuple[np.ndarray, np.ndarray]], progress: bool = False, desc: str = "fold-in",
            cache: dict | None = None) -> tuple[np.ndarray, np.ndarray, list[float]]:  # fmt: skip
    """Fold-in vectors of the profiles through ``Recommender.profile_vector``.

    Args:
        cache: ``{(row, n_ratings): vector}`` reused across calls (a user short of n ratings has the
            same profile at larger n); only computed vectors are timed.

    Returns:
        vectors (U, D), ``has`` (U,) False for empty profiles, and the seconds of each computed fold-in.
    """
    vectors = np.zeros((len(profiles), rec.bundle.dim), dtype=np.float32)
    has = np.zeros(len(profiles), dtype=bool)
    seconds = []
    for row, (items, ratings) in enumerate(tqdm(profiles, desc=desc, unit="user", disable=not progress, leave=False)):
        if len(items) == 0:
            continue
        key = (row, len(items))
        if cache is None or key not in cache:
            start = time.perf_counter()
            vector = rec.profile_vector(list(zip(items.tolist(), ratings.tolist())))
            seconds.append(time.perf_counter() - start)
            if cache is not None:
                cache[key] = vector
        vectors[row], has[row] = (cache[key] if cache is not None else vector), True
    return vectors, has, seconds


@dataclass
class Scored:
    """One condition at one n: the overall metrics and the per-user NDCG@10 (U,)."""

    overall: dict[str, float]
    per_user: np.ndarray


def score(rec: Any, task: FullRankingTask, data: SplitData, pop: Population, ranker: Ranker,
          vectors: np.ndarray, has: np.ndarray, n_ratings: np.ndarray) -> Scored:  # fmt: skip
    """Rank every user with ``ranker`` and score the lists with the offline metrics."""
    k = max(task.ks)
    rows = range(len(pop.users))
    ids = np.stack([ranker(rec, vectors[p] if has[p] else None, int(n_ratings[p]), pop.exclude[p], k).ids[0] for p in rows])
    position = np.full(data.n_items, -1, dtype=np.int64)
    position[task.catalog] = np.arange(len(task.catalog))
    topk = np.where(ids >= 0, position[np.clip(ids, 0, None)], -1)
    relevant = task.relevant[pop.users]
    report = ranking_metrics(
        topk, relevant, ks=task.ks, n_catalog=len(task.catalog), item_popularity=data.item_counts()[task.catalog],
        user_activity=data.user_counts()[pop.users], activity_buckets=task.activity_buckets,
    )  # fmt: skip
    hit = csr_contains(relevant, np.arange(len(pop.users))[:, None], topk)
    per_user = _per_user(hit, np.diff(relevant.indptr), None, 10)["ndcg"]  # the function ranking_metrics averages
    return Scored(report.overall, per_user)


def offline_reference(task: FullRankingTask, data: SplitData, pop: Population, bundle: Any) -> float:
    """NDCG@10 of the trained embeddings over the same users by the offline evaluation (``evaluate_vectors``)."""
    sub = dataclasses.replace(task, users=torch.from_numpy(pop.users.astype(np.int64)))
    report, _ = evaluate_vectors(sub, data, torch.from_numpy(bundle.user_vectors), torch.from_numpy(bundle.item_vectors))
    return float(report.overall[METRIC])


def measure(rec: Any, task: FullRankingTask, data: SplitData, pop: Population, ns: Sequence[N],
            weights: Sequence[float], progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Every condition at every n; returns ``curves``, per-user arrays, fold-in timings and profile sizes."""
    policy = rec.tiers
    rankers: dict[str, Ranker] = {f"blend w={w:g}": blend(w) for w in weights}
    rankers[f"served (blend_from={policy.blend_from}, personal_from={policy.personal_from})"] = served(policy)
    curves: dict[str, dict[str, Scored]] = {"popular": {}, "personal": {}, **{name: {} for name in rankers}}
    none = np.zeros((len(pop.users), rec.bundle.dim), np.float32), np.zeros(len(pop.users), bool)
    base = score(rec, task, data, pop, popular, *none, np.zeros(len(pop.users)))  # exclusions do not depend on n
    timings, sizes, vectors, cache = {}, {}, {}, {}
    rec.profile_vector([(int(rec.catalog[0]), 4.0)])  # warm-up, so the first timed fold-in is not an outlier
    for n in tqdm(ns, desc="n", disable=not progress):
        label = str(n)
        profiles = pop.profiles(n)
        n_ratings = np.array([len(i) for i, _ in profiles])
        vec, has, seconds = fold_in(rec, profiles, progress, f"fold-in n={label}", cache if n != ALL else None)
        vectors[label] = (vec, has, n_ratings)
        timings[label] = seconds
        sizes[label] = {"mean_ratings": float(n_ratings.mean()), "no_ratings": int((n_ratings == 0).sum()),
                        "fewer_than_n": 0 if n == ALL else int((np.array([len(i) for i, _ in pop.train]) < int(n)).sum())}  # fmt: skip
        curves["popular"][label] = base
        if n != 0:
            curves["personal"][label] = score(rec, task, data, pop, personal, vec, has, n_ratings)
        for name, ranker in rankers.items():
            curves[name][label] = score(rec, task, data, pop, ranker, vec, has, n_ratings)
    everyone, zeros = np.ones(len(pop.users), bool), np.zeros(len(pop.users))
    trained = score(rec, task, data, pop, personal, rec.bundle.user_vectors[pop.users], everyone, zeros)
    trained_blends = {f"trained, blend w={w:g}": score(rec, task, data, pop, blend(w), rec.bundle.user_vectors[pop.users], everyone, zeros)
                      for w in weights}  # fmt: skip
    train_only = fold_in(rec, pop.profiles(10**9), progress, "fold-in all train")
    curves_train_only = score(rec, task, data, pop, personal, *train_only[:2], zeros)
    return {"curves": curves, "trained": trained, "trained_blends": trained_blends, "personal_train_only": curves_train_only,
            "vectors": vectors, "fold_in_seconds": timings, "sizes": sizes, "blend_names": list(rankers)[:-1],
            "served_name": list(rankers)[-1]}  # fmt: skip


def paired_se(a: np.ndarray, b: np.ndarray) -> float:
    """Standard error of the mean per-user difference ``a - b``."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")


def choose_thresholds(curves: dict[str, dict[str, Scored]], ns: Sequence[N], blend_names: Sequence[str],
                      policy: tuple[str, TierPolicy] | None = None) -> dict[str, Any]:  # fmt: skip
    """``blend_from`` and ``personal_from`` by the rule of the module docstring (measured ns only).

    Args:
        blend_names: the fixed-weight blend curves; "the blend" at n is the best of them at n.
        policy: (curve name, policy) of a served curve that counts as a blend where the policy blends
            (not where it serves popular or personal: comparing personal with itself would be circular).

    When no n qualifies, ``blend_from`` is the first n where personal beats popular (no blend tier)
    and ``personal_from`` the largest measured n.
    """
    numeric = [int(n) for n in ns if n != ALL and int(n) >= 1]
    if not numeric:
        raise ValueError("choosing thresholds needs at least one measured n >= 1 besides 'all'")
    value = lambda name, n: curves[name][str(n)].overall[METRIC]  # noqa: E731
    names = {n: [*blend_names, *([policy[0]] if policy is not None and policy[1].tier(n) == BLEND else [])] for n in numeric}
    best = {n: max(names[n], key=lambda name: value(name, n)) for n in numeric}
    notes = []
    blend_from = next((n for n in numeric if value(best[n], n) > value("popular", n)), None)
    if blend_from is None:
        blend_from = next((n for n in numeric if value("personal", n) > value("popular", n)), numeric[-1])
        notes.append(f"no measured n where a blend beats popular: blend_from = {blend_from}")
    personal_from = next((n for n in numeric if n >= blend_from and value("personal", n) >= value(best[n], n)), None)
    if personal_from is None:
        personal_from = numeric[-1]
        notes.append(f"personal never reached the best blend at a measured n: personal_from = the largest, {personal_from}")

    def decision(name: str, other: str, n: int) -> dict[str, Any]:
        a, b = curves[name][str(n)], curves[other][str(n)]
        return {"n": n, name: a.overall[METRIC], other: b.overall[METRIC], "diff": a.overall[METRIC] - b.overall[METRIC],
                "paired_se": paired_se(a.per_user, b.per_user)}  # fmt: skip

    return {
        "blend_from": blend_from,
        "personal_from": personal_from,
        "best_blend": {str(n): best[n] for n in numeric},
        "blend_vs_popular": decision(best[blend_from], "popular", blend_from),
        "personal_vs_blend": decision("personal", best[personal_from], personal_from),
        "notes": notes,
    }


def tune_popularity_weight(rec: Any, task: FullRankingTask, data: SplitData, pop: Population, vectors: dict[str, tuple],
                           policy: TierPolicy, weights: Sequence[float]) -> dict[str, Any]:  # fmt: skip
    """The served curve of ``policy`` at each popularity weight (and the policy's own).

    The policy's blend weight is linear, ``w = n / personal_from``; scaling popularity by ``p`` ranks
    as the effective weight ``n / (n + (personal_from - n) p)`` would with ``p = 1``, so ``p`` shapes the
    schedule. The best ``p`` has the highest mean NDCG@10 over the measured ns the policy blends.

    Args:
        vectors: label -> (vectors (U, D), has (U,), n_ratings (U,)) of :func:`measure`.

    Returns:
        ``best``, ``blend_ns`` (labels averaged), ``mean`` and ``ndcg`` (label -> value) per weight, ``curves``.
    """
    labels = list(vectors)
    blend_ns = [label for label in labels if label != ALL and policy.tier(int(label)) == BLEND]
    out: dict[str, Any] = {"blend_ns": blend_ns, "mean": {}, "ndcg": {}, "curves": {}}
    for weight in sorted({*weights, policy.popularity_weight}, reverse=True):
        candidate = dataclasses.replace(policy, popularity_weight=float(weight))
        curve = {label: score(rec, task, data, pop, served(candidate), *vectors[label]) for label in labels}
        out["curves"][weight] = curve
        out["ndcg"][weight] = {label: curve[label].overall[METRIC] for label in labels}
        out["mean"][weight] = float(np.mean([out["ndcg"][weight][label] for label in blend_ns])) if blend_ns else float("nan")
    out["best"] = max(out["mean"], key=lambda w: (np.nan_to_num(out["mean"][w], nan=-1.0), w == policy.popularity_weight))
    return out


# ---- the command --------------------------------------------------------------------------------
def parse_ns(text: str) -> list[N]:
    """``"0,1,3,all"`` -> ``[0, 1, 3, "all"]``: distinct numbers >= 0 in increasing order, ``all`` last."""
    out: list[N] = []
    for part in (p.strip() for p in text.split(",")):
        if part == ALL:
            value: N = ALL
        else:
            try:
                value = int(part)
            except ValueError:
                message = f"{part!r} is not a number of ratings: use integers >= 0 and 'all', e.g. {DEFAULT_NS}"
                raise argparse.ArgumentTypeError(message) from None
            if value < 0:
                raise argparse.ArgumentTypeError(f"{value} ratings is not possible: use integers >= 0 and 'all', e.g. {DEFAULT_NS}")
        if value in out:
            raise argparse.ArgumentTypeError(f"n={value} is given twice in {text!r}")
        out.append(value)
    numbers = [n for n in out if n != ALL]
    if numbers != sorted(numbers) or (ALL in out and out[-1] != ALL):
        raise argparse.ArgumentTypeError(f"give the ns in increasing order with 'all' last, e.g. {DEFAULT_NS}")
    return out


def parse_weights(text: str) -> list[float]:
    """``"0.25,0.5"`` -> personal weights of the fixed blends, each in (0, 1)."""
    try:
        weights = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give personal weights in (0, 1), e.g. {DEFAULT_WEIGHTS}") from None
    if not weights or any(not 0 < w < 1 for w in weights):
        raise argparse.ArgumentTypeError(f"{text!r}: every blend weight must lie strictly between 0 and 1, e.g. {DEFAULT_WEIGHTS}")
    return sorted(set(weights))


def parse_popularity_weights(text: str) -> list[float]:
    """``"1,0.5"`` -> popularity weights, each >= 0."""
    try:
        weights = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        weights = []
    if not weights or any(not w >= 0 for w in weights):
        raise argparse.ArgumentTypeError(f"{text!r}: give popularity weights >= 0, e.g. {DEFAULT_POPULARITY_WEIGHTS}")
    return sorted(set(weights))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recsys-cold-start", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a run directory of train.py with exported embeddings")
    parser.add_argument("--out", type=Path, default=OUTPUT_ROOT, help="report folder (default: %(default)s)")
    parser.add_argument("--ns", type=parse_ns, default=parse_ns(DEFAULT_NS), help=f"numbers of ratings (default: {DEFAULT_NS})")
    parser.add_argument("--weights", type=parse_weights, default=parse_weights(DEFAULT_WEIGHTS),
                        help=f"fixed personal weights of the blend, besides the policy's n/personal_from "
                             f"(default: {DEFAULT_WEIGHTS})")  # fmt: skip
    parser.add_argument("--popularity-weights", type=parse_popularity_weights, default=parse_popularity_weights(DEFAULT_POPULARITY_WEIGHTS),
                        help="popularity_weight values tried for the chosen thresholds (with serve.yaml's own; "
                             f"default: {DEFAULT_POPULARITY_WEIGHTS})")  # fmt: skip
    parser.add_argument("--max-users", type=int, default=None, help="measure only the first N evaluated test users")
    args = parser.parse_args(argv)
    if args.max_users is not None and args.max_users < 1:
        parser.error(f"--max-users {args.max_users}: give at least 1 (or leave it out for every test user)")
    if not (args.run / "config.yaml").is_file():
        parser.error(f"--run {args.run}: not a run directory of train.py (no config.yaml there); train one with python train.py")
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return args


def build(run_dir: Path, bundle_dir: Path) -> tuple[Any, FullRankingTask, SplitData]:
    """A Recommender over a fresh bundle of ``run_dir`` (exact retriever, serve.yaml tiers and fold-in),
    the run's test task and its data."""
    from recsys.serving.app import serve_config
    from recsys.serving.bundle import ServingBundle, write_bundle
    from recsys.serving.cache import MemoryCache
    from recsys.serving.foldin import FoldIn
    from recsys.serving.recommender import Recommender
    from recsys.serving.retrievers import exact_retriever
    from recsys.training.build import load_split

    bundle = ServingBundle.load(write_bundle(run_dir, bundle_dir, version="cold-start", build_index=False))
    cfg = serve_config()
    fold = FoldIn(temperature=float(bundle.manifest.get("temperature", 0.1)), **cfg.fold_in)
    rec = Recommender(bundle, exact_retriever(bundle), MemoryCache(), tiers=instantiate(cfg.tiers), fold_in=fold)
    run_cfg = OmegaConf.load(run_dir / "config.yaml")
    data = load_split(run_cfg.data)
    task = build_task(data, "test", instantiate(run_cfg.eval))
    if not np.array_equal(task.catalog, rec.catalog):
        raise RuntimeError(f"{run_dir}: the bundle's catalogue differs from the test task's; was the data changed since training?")
    return rec, task, data


def _timing(seconds: Sequence[float]) -> dict[str, float]:
    s = np.asarray(seconds, dtype=np.float64) * 1000
    if not s.size:
        return {"count": 0, "mean_ms": float("nan"), "p95_ms": float("nan")}
    return {"count": int(s.size), "mean_ms": float(s.mean()), "p95_ms": float(np.percentile(s, 95))}


def run(args: argparse.Namespace, progress: bool | None = None) -> dict[str, Any]:
    """Measure, choose thresholds, write the report; returns the results (as written to the JSON)."""
    from recsys.benchmarks.machine import describe, summary

    progress = sys.stdout.isatty() if progress is None else progress
    start, load_before = time.perf_counter(), describe()["loadavg"]
    with tempfile.TemporaryDirectory(prefix="recsys-cold-start-") as tmp:
        rec, task, data = build(args.run, Path(tmp) / "bundle")
        pop = population(data, task, args.max_users)
        m = measure(rec, task, data, pop, args.ns, args.weights, progress)
        curves = m["curves"]
        thresholds = choose_thresholds(curves, args.ns, m["blend_names"], (m["served_name"], rec.tiers))
        chosen = dataclasses.replace(rec.tiers, blend_from=thresholds["blend_from"], personal_from=thresholds["personal_from"])
        sweep = tune_popularity_weight(rec, task, data, pop, m["vectors"], chosen, args.popularity_weights)
        chosen = dataclasses.replace(chosen, popularity_weight=sweep["best"])
        chosen_name = (f"served (chosen: blend_from={chosen.blend_from}, personal_from={chosen.personal_from}, "
                       f"popularity_weight={chosen.popularity_weight:g})")  # fmt: skip
        curves[chosen_name] = sweep.pop("curves")[sweep["best"]]
        current = curves[m["served_name"]]
        versus = {label: {"diff": c.overall[METRIC] - current[label].overall[METRIC],
                          "paired_se": paired_se(c.per_user, current[label].per_user)} for label, c in curves[chosen_name].items()}  # fmt: skip
        offline = offline_reference(task, data, pop, rec.bundle)
    trained = m["trained"].overall
    metrics_json = json.loads((args.run / "metrics.json").read_text()).get("test", {})
    at_all = curves["personal"].get(ALL)
    results = {
        "run": str(args.run), "command": "recsys-cold-start " + " ".join(args.argv), "n_users": int(len(pop.users)),
        "ns": [str(n) for n in args.ns], "weights": list(args.weights), "tiers_measured": dataclasses.asdict(rec.tiers),
        "fold_in_settings": dataclasses.asdict(rec.fold_in), "profile_sizes": m["sizes"],
        "curves": {name: {label: s.overall for label, s in c.items()} for name, c in curves.items()},
        "blend_names": m["blend_names"], "served_name": m["served_name"], "chosen_name": chosen_name,
        "trained": {"overall": trained, "offline_same_users": offline, "matches_offline": abs(trained[METRIC] - offline) <= 1e-9,
                    "metrics_json": metrics_json.get(METRIC), "metrics_json_users": metrics_json.get("n_users")},
        "ratio_at_all": None if at_all is None else {
            "personal": at_all.overall[METRIC], "trained": trained[METRIC], "ratio": at_all.overall[METRIC] / trained[METRIC],
            "paired_se": paired_se(at_all.per_user, m["trained"].per_user), "bar": 0.9,
            "personal_train_only": m["personal_train_only"].overall[METRIC],
            "ratio_train_only": m["personal_train_only"].overall[METRIC] / trained[METRIC]},
        "thresholds": thresholds, "popularity_weight_sweep": sweep, "chosen_tiers": dataclasses.asdict(chosen),
        "chosen_vs_served": versus, "trained_blends": {name: s.overall for name, s in m["trained_blends"].items()},
        "fold_in": {**{label: _timing(s) for label, s in m["fold_in_seconds"].items()},
                    "every n": _timing([x for s in m["fold_in_seconds"].values() for x in s])},
        "machine": describe(), "machine_summary": summary(), "loadavg_before": load_before,
        "seconds": time.perf_counter() - start,
    }  # fmt: skip
    write_outputs(results, args.out)
    return results


# ---- the report (from the results dict, as written to the JSON) ---------------------------------


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-cold-start`` command; returns the exit code (2: unusable arguments or run)."""
    from recsys.serving.bundle import BundleError

    args = parse_args(argv)
    try:
        results = run(args)
    except BundleError as error:
        print(f"recsys-cold-start: {error}", file=sys.stderr)
        return 2
    t = results["thresholds"]
    print(f"wrote {args.out / (NAME + '.md')} ({results['seconds']:.0f} s, {results['n_users']} users): "
          f"blend_from={t['blend_from']}, personal_from={t['personal_from']}")  # fmt: skip
    return 0


if __name__ == "__main__":  # python -m recsys.reports.cold_start (the installed command calls main too)
    raise SystemExit(main())
