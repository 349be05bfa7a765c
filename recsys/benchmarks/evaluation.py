"""Benchmark full-ranking top-k with training-item masking (synthetic ml-25m-sized data).

Usage: recsys-bench-eval [--users 162541 --items 59047 --dim 128 --k 20 --device cpu
       --backends torch faiss --chunk-size 2048 [4096 ...] --matmul-precision highest
       --repeat 1 --no-plain --threads N --output PATH]

Times ours (:func:`recsys.evaluation.topk.topk_from_embeddings`, exact, tie rule) for every
backend and chunk size, and in the same run a plain loop over the same users, items, exclusions
and k (float32 matmul, -inf at the training items, ``torch.topk``; no tie rule, no exactness
check), the baseline a hand-written evaluation would use. Prints one JSON object per timing
(``{machine, pipeline, backend, chunk_size, seconds, users_per_s, ...}``; the plain record carries
``ours_over_plain``, ours' seconds over the plain loop's at that chunk size, and
``same_topk_sets``, the share of users whose top-k set the plain loop matches) and, with more than
one backend or chunk size, whether all of ours' top-k lists are identical; writes the list to ``--output`` (default
``outputs/benchmarks/eval.json``).
"""

from __future__ import annotations

import argparse
import functools
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
BLOCK_SEARCH = {"auto": None, "on": True, "off": False}


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


@torch.no_grad()
def plain_topk(user_emb: torch.Tensor, item_emb: torch.Tensor, k: int, exclude: sp.csr_matrix, chunk_size: int) -> torch.Tensor:
    """The hand-written baseline: the exclusions copied to the device once, then per chunk of
    users a float32 matmul, -inf at the excluded items and ``torch.topk`` (ties in any order).

    Args:
        user_emb: (U, D) float32; item_emb: (I, D) float32, on the same device.
        exclude: (U, I) CSR of items never to return.

    Returns:
        LongTensor (U, k) of item indices on the device.
    """
    device, n_users = user_emb.device, user_emb.shape[0]
    indptr = exclude.indptr
    counts = torch.from_numpy(np.diff(indptr).astype(np.int64)).to(device)
    rows = torch.repeat_interleave(torch.arange(n_users, device=device), counts, output_size=int(exclude.nnz))
    cols = torch.from_numpy(exclude.indices.astype(np.int64)).to(device)
    out = torch.empty(n_users, k, dtype=torch.long, device=device)
    for start in range(0, n_users, chunk_size):
        stop = min(start + chunk_size, n_users)
        scores = user_emb[start:stop] @ item_emb.T
        a, b = int(indptr[start]), int(indptr[stop])
        scores[rows[a:b] - start, cols[a:b]] = float("-inf")
        out[start:stop] = torch.topk(scores, k, dim=1).indices
    return out


def same_sets(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of rows of two (U, k) index tensors that hold the same set of items."""
    return float((a.sort(dim=1).values == b.sort(dim=1).values).all(dim=1).float().mean())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=162_541)
    ap.add_argument("--items", type=int, default=59_047)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--mean-train", type=float, default=120.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    ap.add_argument("--chunk-size", type=int, nargs="+", default=[2048], help="one or more chunk sizes, each timed")
    ap.add_argument("--block-search", choices=list(BLOCK_SEARCH), default="auto",
                    help="TorchSearch's two-level top-k (auto: on CPU only)")
    ap.add_argument("--matmul-precision", choices=["highest", "high", "medium"], default=None,
                    help="torch.set_float32_matmul_precision for ours and plain (default: leave it)")
    ap.add_argument("--repeat", type=int, default=1, help="time each pipeline this many times; the minimum is reported")
    ap.add_argument("--no-plain", dest="plain", action="store_false", help="skip the plain matmul + topk loop")
    ap.add_argument("--threads", type=int, default=None, help="torch and faiss threads")
    ap.add_argument("--output", type=Path, default=machine.default_output("eval"), help="JSON file (default: %(default)s)")
    return ap.parse_args(argv)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device: str, repeat: int) -> tuple[float, Any]:
    """Minimum wall seconds of ``repeat`` calls of ``fn()`` (device synchronised) and its result."""
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Times every backend and the plain loop on the same embeddings and exclusions; returns the records."""
    if args.threads:
        torch.set_num_threads(args.threads)
        import faiss

        faiss.omp_set_num_threads(args.threads)
    if args.matmul_precision:
        torch.set_float32_matmul_precision(args.matmul_precision)
    g = torch.Generator().manual_seed(0)
    user_emb = torch.randn(args.users, args.dim, generator=g).to(args.device)
    item_emb = torch.randn(args.items, args.dim, generator=g).to(args.device)
    train = synthetic_train(args.users, args.items, args.mean_train, seed=0)
    searches = {name: functools.partial(BACKENDS[name], block_search=BLOCK_SEARCH[args.block_search])
                if name == "torch" else BACKENDS[name] for name in args.backends}  # fmt: skip
    warm = min(args.users, 256)  # CUDA context, cuBLAS handles, kernels: outside every timing
    for search in searches.values():
        topk_from_embeddings(user_emb[:warm], item_emb, args.k, train[:warm], search, warm)
    plain_topk(user_emb[:warm], item_emb, args.k, train[:warm], warm)
    base = {"machine": machine.describe(args.device), "device": args.device, "users": args.users, "items": args.items,
            "dim": args.dim, "k": args.k, "train_nnz": int(train.nnz), "threads": torch.get_num_threads(),
            "matmul_precision": torch.get_float32_matmul_precision()}  # fmt: skip
    records, tops, first = [], [], next(iter(searches))
    for chunk in args.chunk_size:
        for name, search in searches.items():
            stats: dict[str, int] = {}
            seconds, top = _time(functools.partial(topk_from_embeddings, user_emb, item_emb, args.k, train, search, chunk, stats),
                                 args.device, args.repeat)
            tops.append(top.cpu())
            record = {**base, "pipeline": "ours", "backend": name, "chunk_size": chunk, "seconds": round(seconds, 3),
                      "users_per_s": round(args.users / seconds, 1), **stats}  # fmt: skip
            if name == "torch":
                record["block_search"] = args.block_search
            if name == first:
                ours = seconds
            records.append(record)
            print(json.dumps(record), flush=True)
        if args.plain:
            seconds, top = _time(functools.partial(plain_topk, user_emb, item_emb, args.k, train, chunk), args.device, args.repeat)
            record = {**base, "pipeline": "plain", "backend": "matmul+topk", "chunk_size": chunk, "seconds": round(seconds, 3),
                      "users_per_s": round(args.users / seconds, 1), "ours_backend": first, "ours_over_plain": round(ours / seconds, 3),
                      "same_topk_sets": round(same_sets(tops[-len(searches)], top.cpu()), 5)}  # fmt: skip
            records.append(record)
            print(json.dumps(record), flush=True)
    if len(tops) > 1:  # every backend and chunk size gives the same lists
        records.append({"backends_identical": all(torch.equal(tops[0], t) for t in tops[1:])})
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
