"""Benchmark full-ranking top-k with training-item masking (synthetic ml-25m-sized data).

Usage: recsys-bench-eval [--users 162541 --items 59047 --dim 128 --k 20
       --device cpu --backends torch faiss --chunk-size 2048 --threads N --output PATH]

Prints one JSON object per backend ({machine, backend, users, items, seconds, users_per_s, ...})
and, with more than one backend, whether their top-k lists are identical; writes the list of them to
``--output`` (default ``outputs/benchmarks/eval.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from recsys.benchmarks import machine
from recsys.evaluation.topk import FaissSearch, TorchSearch, topk_from_embeddings

# the --backends names of the command line; the search classes take no name anywhere else
BACKENDS = {"torch": TorchSearch, "faiss": FaissSearch}


def synthetic_train(n_users: int, n_items: int, mean: float, seed: int) -> sp.csr_matrix:
    """Random (U, I) CSR with log-normal per-user counts of about ``mean`` items."""
    rng = np.random.default_rng(seed)
    sigma = 1.0
    counts = rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n_users).astype(np.int64) + 1
    counts = np.minimum(counts, n_items)
    cols = rng.integers(0, n_items, counts.sum())
    indptr = np.concatenate([[0], np.cumsum(counts)])
    m = sp.csr_matrix((np.ones(cols.size, np.float32), cols, indptr), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=162_541)
    ap.add_argument("--items", type=int, default=59_047)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--mean-train", type=float, default=120.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    ap.add_argument("--chunk-size", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=None, help="torch and faiss threads")
    ap.add_argument("--output", type=Path, default=machine.default_output("eval"), help="JSON file (default: %(default)s)")
    return ap.parse_args(argv)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Times every backend on the same embeddings and exclusions; returns the printed records."""
    if args.threads:
        torch.set_num_threads(args.threads)
        import faiss

        faiss.omp_set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    user_emb = torch.randn(args.users, args.dim, generator=g).to(args.device)
    item_emb = torch.randn(args.items, args.dim, generator=g).to(args.device)
    train = synthetic_train(args.users, args.items, args.mean_train, seed=0)
    records, tops = [], {}
    for name in args.backends:
        _sync(args.device)
        start = time.perf_counter()
        top = topk_from_embeddings(user_emb, item_emb, args.k, train, BACKENDS[name], args.chunk_size)
        _sync(args.device)
        seconds = time.perf_counter() - start
        tops[name] = top.cpu()
        record = {
            "machine": machine.describe(args.device), "backend": name, "device": args.device,
            "users": args.users, "items": args.items, "dim": args.dim, "k": args.k, "train_nnz": int(train.nnz),
            "chunk_size": args.chunk_size, "threads": torch.get_num_threads(),
            "seconds": round(seconds, 2), "users_per_s": round(args.users / seconds, 1),
        }  # fmt: skip
        records.append(record)
        print(json.dumps(record), flush=True)
    if len(tops) > 1:
        first, *rest = tops.values()
        records.append({"backends_identical": all(torch.equal(first, r) for r in rest)})
        print(json.dumps(records[-1]), flush=True)
    if args.output is not None:
        machine.write_json(args.output, records)
    return records


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-bench-eval`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.benchmarks.evaluation (the installed command calls main too)
    raise SystemExit(main())
