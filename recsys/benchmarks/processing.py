"""Benchmark raw ``ratings.csv`` -> processed Parquet, split, features and statistics, against pandas.

Usage: ``recsys-bench-processing [--ratings 25000095] [--pandas-ratings N] [--memory-limit 5GB]
[--output outputs/benchmarks/processing.json]``

Each approach runs in a fresh subprocess (``python -m recsys.benchmarks.processing --child ...``)
so that its peak RSS (``getrusage``, DuckDB included) is its own. "ours" is
``process_raw(CsvReader(), raw, out)`` then ``write_split(RandomPerUserSplit(), ...)``; "pandas" does
the same work the plain way (:mod:`recsys.benchmarks.processing_pandas`). Synthetic raw data is
generated once into ``data/synthetic/bench-<n>`` (not timed); the processed scratch output goes to
``outputs/benchmarks/processing_work``. Prints one JSON object and writes it to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import recsys
from recsys.benchmarks import machine
from recsys.benchmarks.processing_pandas import run_pandas
from recsys.benchmarks.stages import Stages, result
from recsys.synthetic.generator import SyntheticConfig, generate_synthetic
from recsys.utils.atomic import atomic_directory

RAW_ROOT = recsys.REPO_ROOT / "data" / "synthetic"


def raw_folder(n_ratings: int) -> Path:
    """``data/synthetic/bench-<n>``, generated once with users and items scaled to ``n_ratings``."""
    path = RAW_ROOT / f"bench-{n_ratings}"
    if not (path / "ratings.csv").exists():
        d = SyntheticConfig()
        f = n_ratings / d.n_ratings
        cfg = SyntheticConfig(n_users=max(1, round(d.n_users * f)), n_items=max(200, round(d.n_items * f)),
                              n_ratings=n_ratings)  # fmt: skip
        print(f"generating {path} (not timed)", file=sys.stderr)
        with atomic_directory(path) as tmp:
            generate_synthetic(cfg, tmp, progress=False)
    return path


def run_ours(raw: Path, work: Path, memory_limit: str) -> dict[str, Any]:
    """``process_raw`` + ``write_split`` with per-stage timers patched around their helpers."""
    import recsys.data.process as proc
    from recsys.data.readers import CsvReader
    from recsys.data.splits import RandomPerUserSplit

    st = Stages()
    proc.validate = st.timed("validate_dedupe", proc.validate)
    proc.dataset_statistics = st.timed("statistics", proc.dataset_statistics)
    proc.split_statistics = st.timed("statistics", proc.split_statistics)
    proc.write_features = st.timed("features", proc.write_features)
    reader = CsvReader()
    reader.register = st.timed("parse_check", reader.register)
    con = proc.connect(memory_limit, temp_dir=work / "duckdb_tmp")
    out = work / "processed"
    with st("process_raw"):
        proc.process_raw(reader, raw, out, con=con)
    with st("write_split"):
        stats = proc.write_split(RandomPerUserSplit(), out, out / "splits" / "random", con=con)
    s = st.seconds
    stages = {
        "parse_check": s["parse_check"], "validate_dedupe": s["validate_dedupe"],
        "write_processed": s["process_raw"] - s["parse_check"] - s["validate_dedupe"],
        "split": s["write_split"] - s["features"] - s["statistics"],
        "features": s["features"], "statistics": s["statistics"],
    }  # fmt: skip
    ds = json.loads((out / "statistics.json").read_text())
    users = out / "splits" / "random" / "features" / "users.parquet"
    mean_user_mean = con.execute(f"SELECT avg(rating_mean) FROM '{users}'").fetchone()[0]
    return result(stages, ds, {k: stats[k]["n_ratings"] for k in ("train", "val", "test")}, mean_user_mean)


def describe_machine() -> dict[str, Any]:
    """:func:`recsys.benchmarks.machine.describe` plus the DuckDB and pandas versions."""
    import duckdb
    import pandas as pd

    return machine.describe("cpu") | {"duckdb": duckdb.__version__, "pandas": pd.__version__}


def child(approach: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Runs one approach on ``bench-<n>`` in a fresh interpreter; returns its JSON (or the error)."""
    raw = raw_folder(n)
    work = Path(args.work) / f"{n}" / approach
    cmd = [sys.executable, "-m", "recsys.benchmarks.processing", "--child", approach, "--raw", str(raw),
           "--work", str(work), "--memory-limit", args.memory_limit, "--pandas-engine", args.pandas_engine]  # fmt: skip
    print(f"running {approach} on {raw}", file=sys.stderr)
    t0, load0 = time.perf_counter(), os.getloadavg()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": f"exit code {proc.returncode}", "wall_s": wall, "loadavg_start": load0}
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"wall_s": wall, "loadavg_start": load0}


def consistency(ours: dict, pandas: dict) -> dict[str, Any]:
    """Same cleaned data, split sizes within one rating per user, close train user means."""
    a, b = ours["check"], pandas["check"]
    n_users = a["n_users"]
    sizes = {k: {"ours": a["split_sizes"][k], "pandas": b["split_sizes"][k]} for k in ("train", "val", "test")}
    ok_sizes = all(abs(v["ours"] - v["pandas"]) <= n_users for v in sizes.values())
    mean_diff = abs(a["mean_user_rating_mean"] - b["mean_user_rating_mean"])
    return {
        "n_ratings_equal": a["n_ratings"] == b["n_ratings"],
        "n_users_equal": a["n_users"] == b["n_users"], "n_movies_equal": a["n_movies"] == b["n_movies"],
        "avg_rating_diff": abs(a["avg_rating"] - b["avg_rating"]),
        "split_sizes": sizes, "split_sizes_within_1_per_user": ok_sizes,
        "mean_user_rating_mean": {"ours": a["mean_user_rating_mean"], "pandas": b["mean_user_rating_mean"]},
        "ok": a["n_ratings"] == b["n_ratings"] and a["n_users"] == b["n_users"] and ok_sizes
        and abs(a["avg_rating"] - b["avg_rating"]) < 1e-6 and mean_diff < 5e-3,
    }  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ratings", type=int, default=SyntheticConfig().n_ratings)
    p.add_argument("--pandas-ratings", type=int, default=None, help="run pandas (and ours again) at this size")
    p.add_argument("--memory-limit", default="5GB", help="DuckDB memory_limit for ours")
    p.add_argument("--pandas-engine", default="c", choices=["c", "pyarrow"], help="pd.read_csv engine")
    p.add_argument("--work", type=Path, default=machine.OUTPUT_ROOT / "processing_work",
                   help="scratch output folder (default: %(default)s)")
    p.add_argument("--output", type=Path, default=machine.default_output("processing"),
                   help="JSON file (default: %(default)s)")
    p.add_argument("--child", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _run_child(args: argparse.Namespace) -> dict[str, Any]:
    """In the child process: run one approach and print its result as the last stdout line."""
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child == "ours":
        res = run_ours(args.raw, args.work, args.memory_limit)
    else:
        res = run_pandas(args.raw, args.work, args.pandas_engine)
    print(json.dumps(res))
    return res


def compare(report: dict[str, Any], pair: dict[str, Any]) -> None:
    """Adds the consistency check, speed-up and targets met to ``report`` (``pair``: ours and pandas)."""
    ours, pd_res = pair["ours"], pair["pandas"]
    ok = "error" not in ours and "error" not in pd_res
    if ok:
        report["consistency"] = consistency(ours, pd_res)
        report["speedup"] = pd_res["seconds_total"] / ours["seconds_total"]
    main_ours = report["ours"]
    report["targets_met"] = {
        "under_60s": "error" not in main_ours and main_ours["seconds_total"] < 60,
        "under_6gb": "error" not in main_ours and main_ours["peak_rss_gb"] < 6,
        "faster_than_pandas": ok and ours["seconds_total"] < pd_res["seconds_total"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Runs ours and pandas (each in its own process), compares them; returns the printed report."""
    if args.child:
        return _run_child(args)
    report: dict[str, Any] = {"machine": describe_machine(), "n_ratings": args.ratings, "memory_limit": args.memory_limit}
    report["ours"] = child("ours", args.ratings, args)
    n_pd = args.pandas_ratings or args.ratings
    if n_pd != args.ratings:
        report["same_size"] = {"n_ratings": n_pd, "ours": child("ours", n_pd, args)}
        report["same_size"]["pandas"] = child("pandas", n_pd, args)
        pair = report["same_size"]
    else:
        report["pandas"] = child("pandas", n_pd, args)
        pair = report
    compare(report, pair)
    report["machine"]["loadavg_end"] = os.getloadavg()
    machine.emit(report, args.output)
    return report


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-bench-processing`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.benchmarks.processing (also how main() starts its children)
    raise SystemExit(main())
