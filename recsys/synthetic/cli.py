"""The ``recsys-generate-synthetic`` command: a data set with MovieLens-25M's shape, and a JSON summary.

Usage: ``recsys-generate-synthetic --users 16254 --ratings 2500000 --output data/synthetic/tenth``
(defaults: full ML-25M shape into ``data/synthetic/ml25m_shape``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from recsys.synthetic.generator import SyntheticConfig, generate_synthetic


def _count_rows(path: Path) -> int:
    """Data rows of a CSV file (lines minus the header), read in 16 MiB blocks."""
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            n += block.count(b"\n")
    return n - 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; defaults are :class:`SyntheticConfig`'s."""
    d = SyntheticConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=d.n_users)
    p.add_argument("--items", type=int, default=d.n_items)
    p.add_argument("--ratings", type=int, default=d.n_ratings)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--chunk-users", type=int, default=8192)
    p.add_argument("--output", type=Path, default=Path("data/synthetic/ml25m_shape"))
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Generates the data set; returns (and prints) the summary."""
    cfg = SyntheticConfig(n_users=args.users, n_items=args.items, n_ratings=args.ratings,
                          seed=args.seed)  # fmt: skip
    t0 = time.perf_counter()
    out = generate_synthetic(cfg, args.output, chunk_users=args.chunk_users,
                             progress=not args.no_progress)  # fmt: skip
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    files = sorted(out.iterdir())
    summary = {
        "output": str(out),
        "rows": {f.name: _count_rows(f) for f in files if f.suffix == ".csv"},
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "bytes": {f.name: f.stat().st_size for f in files},
        "config": {"n_users": cfg.n_users, "n_items": cfg.n_items, "n_ratings": cfg.n_ratings,
                   "seed": cfg.seed, "chunk_users": args.chunk_users},  # fmt: skip
    }
    json.dump(summary, sys.stdout, indent=2)
    print()
    return summary


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-generate-synthetic`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.synthetic.cli (the installed command calls main too)
    raise SystemExit(main())
