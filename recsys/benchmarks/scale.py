"""End to end at growing sizes: time and peak memory of every stage, fitted against the ratings.

Usage: ``recsys-bench-scale [--ratings 1000000 5000000 25000095] [--stages generate,process,...]
[--train-overrides experiment=ml25m_two_tower trainer=cpu ...] [--output outputs/benchmarks/scale.json]``

For each size the synthetic generator makes an ML-25M-shaped set with users and movies scaled in
proportion (162,541 users and 59,047 movies at 25,000,095 ratings), into a fresh scratch folder
(``--work``), and each stage runs as its own process, so its wall time, CPU time and peak RSS
(``os.wait4``) are its own:

- ``generate``: the raw CSV files (``SyntheticData.generate``);
- ``process``: parse, validate, dedupe, id maps, split, features, statistics (``prepare``);
- ``popularity``: ``train.py model=popularity`` (the baseline every model must beat);
- ``train``: ``train.py`` with ``--train-overrides`` (fit, per-epoch validation, best checkpoint
  on val and test, exported embeddings);
- ``evaluate``: ``eval.py`` on the trained run (val and test, full ranking);
- ``package``: ``recsys-package`` (serving bundle and the optimised Qdrant Edge index).

Prints one JSON object (stages per size, the fit ``seconds = c * (ratings / 1M) ** b`` per stage
and the same for peak RSS) and writes it to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import recsys
from recsys.benchmarks import machine

FULL = {"n_ratings": 25_000_095, "n_users": 162_541, "n_items": 59_047}
STAGES = ("generate", "process", "popularity", "train", "evaluate", "package")


def data_overrides(n_ratings: int, work: Path) -> list[str]:
    """``data=synthetic`` at ``n_ratings`` with users and items in ML-25M's proportions."""
    f = n_ratings / FULL["n_ratings"]
    return [
        "data=synthetic", f"data.generator.n_ratings={n_ratings}",
        f"data.generator.n_users={max(1, round(FULL['n_users'] * f))}",
        f"data.generator.n_items={max(200, round(FULL['n_items'] * f))}",
        f"data.raw_root={work / 'raw'}", f"data.processed_root={work / 'processed'}",
    ]  # fmt: skip


def stage_command(stage: str, n_ratings: int, work: Path, train_overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment of one stage."""
    py, data = sys.executable, data_overrides(n_ratings, work)
    quiet = ["logger=none", "trainer.enable_progress_bar=false"]
    if stage in ("generate", "process"):
        return [py, "-m", "recsys.benchmarks.scale", "--child", stage, "--overrides", *data], {}
    if stage == "popularity":
        return [py, "train.py", *data, "model=popularity", *quiet, f"hydra.run.dir={work / 'popularity'}"], {}
    if stage == "train":
        return [py, "train.py", *data, *train_overrides, *quiet, f"hydra.run.dir={work / 'run'}"], {}
    if stage == "evaluate":
        return [py, "eval.py", f"run={work / 'run'}", f"output_dir={work / 'eval'}"], {}
    if stage == "package":
        env = {"BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
        return [py, "-m", "recsys.serving.package", f"run_dir={work / 'run'}"], env
    raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")


def run_stage(command: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Runs ``command`` to completion; its wall and CPU seconds and peak RSS (GB)."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=recsys.REPO_ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_gb": round(usage.ru_maxrss / 1e6, 3), "loadavg_start": round(load, 2), "log": str(log),
    }  # fmt: skip
    if proc.returncode != 0:
        result["error"] = f"exit code {proc.returncode}; see {log}"
    return result


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """val/test NDCG@10 and Recall@10 of a finished run (empty if it has no metrics.json)."""
    path = run_dir / "metrics.json"
    if not path.exists():
        return {}
    m = json.loads(path.read_text())
    return {f"{split}/{k}": m[split].get(k) for split in ("val", "test") if split in m for k in ("ndcg@10", "recall@10")}


def fit_power(points: list[tuple[float, float]]) -> dict[str, float] | None:
    """Least squares of ``log y = log c + b log(x / 1e6)``; None with fewer than two positive points."""
    pts = [(math.log(x / 1e6), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else 0.0
    return {"c": round(math.exp(my - b * mx), 4), "b": round(b, 3)}


def fits(sizes: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per stage: the power-law fit of seconds and of peak RSS against the number of ratings."""
    out = {}
    for stage in STAGES:
        done = [(n, r["stages"][stage]) for n, r in sizes.items() if stage in r["stages"] and "error" not in r["stages"][stage]]
        if done:
            out[stage] = {"seconds": fit_power([(n, s["seconds"]) for n, s in done]),
                          "peak_rss_gb": fit_power([(n, s["peak_rss_gb"]) for n, s in done])}
    return out


def run_size(n_ratings: int, stages: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """All ``stages`` at one size, in a fresh scratch folder (kept for inspection)."""
    work = Path(args.work).resolve() / str(n_ratings)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result: dict[str, Any] = {"stages": {}}
    for stage in stages:
        command, env = stage_command(stage, n_ratings, work, args.train_overrides)
        print(f"[{n_ratings:,}] {stage}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        res = run_stage(command, env, work / f"{stage}.log")
        result["stages"][stage] = res
        print(f"[{n_ratings:,}] {stage}: {res['seconds']} s, {res['peak_rss_gb']} GB {res.get('error', '')}", file=sys.stderr, flush=True)
        if "error" in res:
            break
    result["popularity"] = run_metrics(work / "popularity")
    result["model"] = run_metrics(work / "run")
    return result


def _child(stage: str, overrides: list[str]) -> None:
    from hydra.utils import instantiate

    from recsys.utils.compose import compose_config

    data = instantiate(compose_config("train", overrides).data, _convert_="all")
    data.generate() if stage == "generate" else data.prepare()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ratings", type=int, nargs="+", default=[1_000_000, 5_000_000, FULL["n_ratings"]])
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of %(default)s, in that order")
    p.add_argument("--train-overrides", nargs="*", default=["experiment=ml25m_two_tower", "trainer=cpu", "batch_size=1024", "optimizer=sparse_adam", "optimizer.lr=0.001", "trainer.max_epochs=1"],
                   help="Hydra overrides of the train stage (default: %(default)s)")
    p.add_argument("--work", type=Path, default=machine.OUTPUT_ROOT / "scale_work", help="scratch folder (default: %(default)s)")
    p.add_argument("--output", type=Path, default=machine.default_output("scale"), help="JSON file (default: %(default)s)")
    p.add_argument("--child", choices=["generate", "process"], help=argparse.SUPPRESS)
    p.add_argument("--overrides", nargs="*", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.stage_list = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(args.stage_list) - set(STAGES))
    if unknown:
        p.error(f"unknown stage(s) {unknown}; choose from {', '.join(STAGES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-bench-scale`` command; returns the exit code (1 if a stage failed)."""
    args = parse_args(argv)
    if args.child:
        _child(args.child, args.overrides)
        return 0
    report: dict[str, Any] = {"machine": machine.describe("cpu"), "train_overrides": args.train_overrides, "sizes": {}}
    for n in args.ratings:
        report["sizes"][n] = run_size(n, args.stage_list, args)
    report["fits"] = fits(report["sizes"])
    report["machine"]["loadavg_end"] = os.getloadavg()
    machine.emit(report, args.output)
    failed = any("error" in s for r in report["sizes"].values() for s in r["stages"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
