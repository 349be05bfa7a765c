"""Benchmark full-ranking top-k with training-item masking (synthetic ml-25m-sized data).

Usage: python scripts/bench_eval.py [--users 162541 --items 59047 --dim 128 --k 20
       --device cpu --backends torch faiss --chunk-size 2048 --threads N]
Prints one JSON line per backend: {machine, backend, users, items, seconds, users_per_s, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import scipy.sparse as sp
import torch

from recsys.evaluation.topk import topk_from_embeddings


def machine(device: str) -> str:
    """Short description of the CPU (and GPU when used)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"
    if device.startswith("cuda"):
        desc += f", {torch.cuda.get_device_name(torch.device(device))}"
    return desc


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=162_541)
    ap.add_argument("--items", type=int, default=59_047)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--mean-train", type=float, default=120.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backends", nargs="+", default=["torch", "faiss"])
    ap.add_argument("--chunk-size", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=None, help="torch and faiss threads")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
        import faiss

        faiss.omp_set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    user_emb = torch.randn(args.users, args.dim, generator=g).to(args.device)
    item_emb = torch.randn(args.items, args.dim, generator=g).to(args.device)
    train = synthetic_train(args.users, args.items, args.mean_train, seed=0)
    results = {}
    for backend in args.backends:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        top = topk_from_embeddings(user_emb, item_emb, args.k, train, SEARCHES[backend], args.chunk_size)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        results[backend] = top.cpu()
        print(json.dumps({
            "machine": machine(args.device),
            "backend": backend,
            "device": args.device,
            "users": args.users,
            "items": args.items,
            "dim": args.dim,
            "k": args.k,
            "train_nnz": int(train.nnz),
            "chunk_size": args.chunk_size,
            "threads": torch.get_num_threads(),
            "seconds": round(seconds, 2),
            "users_per_s": round(args.users / seconds, 1),
        }), flush=True)
    if len(results) > 1:
        first, *rest = results.values()
        print(json.dumps({"backends_identical": all(torch.equal(first, r) for r in rest)}))


if __name__ == "__main__":
    main()
