"""Benchmark the re-rankers at MovieLens-25M scale: seconds to re-rank every user's candidates.

Usage: python scripts/bench_rerank.py [--users 162541 --items 59047 --candidates 100 --k 20 --dim 128]

Candidates and scores are random (sorted per user, as retrieval returns them); re-ranking cost
does not depend on what the scores mean. The popularity penalty (fully vectorised) is the
baseline each run is compared with. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from bench_eval import machine  # scripts/ is on sys.path when a script runs

from recsys.evaluation.rerank import CoverageReranker, MMRReranker, PopularityPenaltyReranker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=162_541)
    ap.add_argument("--items", type=int, default=59_047)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--mmr-users", type=int, default=16_384, help="MMR is timed on this many users")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    gen = torch.Generator().manual_seed(args.seed)
    # popular items are candidates more often (Zipf-like), as with a trained model
    weights = 1.0 / torch.arange(1, args.items + 1, dtype=torch.float64) ** 0.8
    candidates = torch.multinomial(weights.float(), args.users * args.candidates, replacement=True, generator=gen)
    candidates = candidates.view(args.users, args.candidates)
    scores = torch.rand(args.users, args.candidates, generator=gen, dtype=torch.float64).sort(dim=1, descending=True).values
    vectors = torch.randn(args.items, args.dim, generator=gen)
    popularity = np.random.default_rng(args.seed).zipf(1.5, args.items).clip(max=100_000)

    results = {}
    for name, reranker, n in (
        ("popularity_penalty", PopularityPenaltyReranker(strength=0.5, candidates=args.candidates), args.users),
        ("coverage", CoverageReranker(bonus=1.0, cutoff=10, passes=3, candidates=args.candidates), args.users),
        ("mmr", MMRReranker(lambda_=0.5, candidates=args.candidates), args.mmr_users),
    ):
        start = time.perf_counter()
        top = reranker.rerank(candidates[:n], scores[:n], args.k, vectors, popularity)
        seconds = time.perf_counter() - start
        distinct = int(torch.unique(top[:, :10][top[:, :10] >= 0]).numel())
        results[name] = {
            "users": n,
            "seconds": round(seconds, 3),
            "users_per_s": round(n / seconds),
            "distinct_items_in_top10": distinct,
        }
    print(json.dumps({
        "machine": f"{machine('cpu')}, {torch.get_num_threads()} threads",
        "candidates": args.candidates,
        "k": args.k,
        "results": results,
        "coverage_vs_popularity_penalty_time": round(results["coverage"]["seconds"] / results["popularity_penalty"]["seconds"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
