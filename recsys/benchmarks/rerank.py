"""Benchmark the re-rankers at MovieLens-25M scale: seconds to re-rank every user's candidates.

Usage: recsys-bench-rerank [--users 162541 --items 59047 --candidates 100 --k 20 --dim 128 --output PATH]

Candidates and scores are random (sorted per user, as retrieval returns them); re-ranking cost
does not depend on what the scores mean. The popularity penalty (fully vectorised) is the
baseline each run is compared with. Prints one JSON object and writes it to ``--output``
(default ``outputs/benchmarks/rerank.json``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsys.benchmarks import machine
from recsys.evaluation.rerank import CoverageReranker, MMRReranker, PopularityPenaltyReranker


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=162_541)
    ap.add_argument("--items", type=int, default=59_047)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--mmr-users", type=int, default=16_384, help="MMR is timed on this many users")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=machine.default_output("rerank"), help="JSON file (default: %(default)s)")
    return ap.parse_args(argv)


def random_candidates(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Candidates (U, N), their descending scores (U, N), item vectors (I, D) and popularity (I,)."""
    gen = torch.Generator().manual_seed(args.seed)
    # popular items are candidates more often (Zipf-like), as with a trained model
    weights = 1.0 / torch.arange(1, args.items + 1, dtype=torch.float64) ** 0.8
    candidates = torch.multinomial(weights.float(), args.users * args.candidates, replacement=True, generator=gen)
    candidates = candidates.view(args.users, args.candidates)
    scores = torch.rand(args.users, args.candidates, generator=gen, dtype=torch.float64)
    scores = scores.sort(dim=1, descending=True).values
    vectors = torch.randn(args.items, args.dim, generator=gen)
    popularity = np.random.default_rng(args.seed).zipf(1.5, args.items).clip(max=100_000)
    return candidates, scores, vectors, popularity


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Times each re-ranker on the same candidates; returns the printed JSON object."""
    candidates, scores, vectors, popularity = random_candidates(args)
    results = {}
    for name, reranker, n in (
        ("popularity_penalty", PopularityPenaltyReranker(strength=0.5, candidates=args.candidates), args.users),
        ("coverage", CoverageReranker(bonus=1.0, cutoff=10, passes=3, candidates=args.candidates), args.users),
        ("mmr", MMRReranker(lambda_=0.5, candidates=args.candidates), min(args.mmr_users, args.users)),
    ):
        start = time.perf_counter()
        top = reranker.rerank(candidates[:n], scores[:n], args.k, vectors, popularity)
        seconds = time.perf_counter() - start
        distinct = int(torch.unique(top[:, :10][top[:, :10] >= 0]).numel())
        results[name] = {"users": n, "seconds": round(seconds, 3), "users_per_s": round(n / seconds),
                         "distinct_items_in_top10": distinct}  # fmt: skip
    report = {
        "machine": machine.describe("cpu"),
        "candidates": args.candidates,
        "k": args.k,
        "results": results,
        "coverage_vs_popularity_penalty_time": round(
            results["coverage"]["seconds"] / results["popularity_penalty"]["seconds"], 2
        ),
    }
    machine.emit(report, args.output)
    return report


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-bench-rerank`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.benchmarks.rerank (the installed command calls main too)
    raise SystemExit(main())
