"""``recsys-bench-retrieval``: recall@10 and latency of the serving retrievers against exact search.

For known users of a serving bundle (their train + val movies excluded in the index), compares
Qdrant Edge HNSW at several ``ef`` (plain and with ACORN) and Edge's own exact scan with the
brute-force ``ExactRetriever``; also times the fold-in of a profile. Prints JSON and writes it to
``--output`` (default ``outputs/benchmarks/retrieval.json``).

    recsys-bench-retrieval --bundle $BENTOML_HOME/models/recsys/<version> [--users 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsys.benchmarks.machine import default_output, describe, emit
from recsys.serving.bundle import BundleError, ServingBundle
from recsys.serving.foldin import FoldIn
from recsys.serving.retrievers import edge_retriever, exact_retriever


def _recall(reference: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / reference.shape[1] for a, b in zip(reference, got)]))


def measure(bundle: ServingBundle, n_users: int, efs: list[int], seed: int = 0) -> dict[str, Any]:
    users = bundle.users["user_idx"].to_numpy()
    users = np.random.default_rng(seed).choice(users, min(n_users, len(users)), replace=False)
    history = dict(tuple(bundle.history.groupby("user_idx")["item_idx"]))
    queries = bundle.user_vectors[users]
    exclude = [history.get(u, np.empty(0, dtype=np.int64)).tolist() for u in users]
    exact = exact_retriever(bundle)
    start = time.perf_counter()
    reference = exact.search(queries, 10, exclude).ids
    rows = [{"search": "torch exact", "recall@10": 1.0, "ms_per_query": (time.perf_counter() - start) / len(users) * 1000}]
    settings = [(f"edge hnsw ef={ef}" + (" + ACORN" if acorn else ""), {"hnsw_ef": ef, "acorn_max_selectivity": acorn}) for acorn in (None, 1.0) for ef in efs]
    for name, kwargs in [*settings, ("edge exact", {"exact": True})]:
        retriever = edge_retriever(bundle, **kwargs)
        retriever.search(queries[:5], 10, exclude[:5])  # warm-up
        start = time.perf_counter()
        got = retriever.search(queries, 10, exclude).ids
        rows.append({"search": name, "recall@10": _recall(reference, got), "ms_per_query": (time.perf_counter() - start) / len(users) * 1000})
        retriever.close()
    catalog = bundle.catalog
    position = {int(i): p for p, i in enumerate(catalog)}
    vectors = np.ascontiguousarray(bundle.item_vectors[catalog])
    fold_in = FoldIn(temperature=float(bundle.manifest.get("temperature", 0.1)))
    times = []
    for user in users[:100]:
        rated = bundle.history[(bundle.history.user_idx == user) & bundle.history.item_idx.isin(catalog)]
        positions = np.array([position[int(i)] for i in rated.item_idx], dtype=np.int64)
        start = time.perf_counter()
        fold_in(vectors, positions, rated.rating.to_numpy())
        times.append((time.perf_counter() - start) * 1000)
    return {
        "catalog": len(catalog),
        "users": len(users),
        "mean_excluded": float(np.mean([len(e) for e in exclude])),
        "rows": rows,
        "fold_in_ms": {"mean": float(np.mean(times)), "p95": float(np.percentile(times, 95)), "max_catalog": fold_in.max_catalog},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recsys-bench-retrieval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True, help="a serving bundle: $BENTOML_HOME/models/recsys/<version>")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--output", type=Path, default=default_output("retrieval"))
    args = parser.parse_args(argv)
    try:
        bundle = ServingBundle.load(args.bundle)
    except BundleError as error:
        print(f"recsys-bench-retrieval: {error}", file=sys.stderr)
        return 2
    if args.users < 1 or min(args.ef) < 1:
        print("recsys-bench-retrieval: --users and --ef must be >= 1", file=sys.stderr)
        return 2
    emit({"benchmark": "retrieval", "bundle": str(args.bundle), **measure(bundle, args.users, args.ef), "machine": describe()}, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
