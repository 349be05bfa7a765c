"""Per-trial overhead of an Optuna sweep: the basic launcher and joblib against standalone runs.

A trial's useful work is its training and evaluation (``train_seconds + eval_seconds`` in its
``metrics.json``); everything else (process start, imports, config composition, loading the
processed data from its cache, writing checkpoints and reports, the sweeper's bookkeeping) is
overhead. The baseline, measured in the same run, is the same configuration run as standalone
``python train.py`` processes, which pay every import and the data load each time.

    overhead per trial = (wall seconds x trials run at a time - sum of train+eval seconds) / trials

Prints JSON and writes it to ``--output`` (default ``outputs/benchmarks/sweep.json``).

    recsys-bench-sweep [--trials 4] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import recsys
from recsys.benchmarks import machine

COMMON = ["trainer.enable_progress_bar=false", "logger=none", "batch_size=2048"]


def _run(command: list[str]) -> float:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=recsys.REPO_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def _work_seconds(run_dirs: list[Path]) -> float:
    total = 0.0
    for run_dir in run_dirs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        total += metrics["train_seconds"] + metrics["eval_seconds"]
    return total


def measure(name: str, wall: float, run_dirs: list[Path], parallel: int) -> dict[str, Any]:
    work = _work_seconds(run_dirs)
    return {
        "name": name,
        "trials": len(run_dirs),
        "parallel": parallel,
        "wall_seconds": round(wall, 2),
        "train_eval_seconds": round(work, 2),
        "overhead_per_trial_seconds": round((wall * parallel - work) / len(run_dirs), 2),
    }


def benchmark(trials: int, epochs: int, root: Path) -> dict[str, Any]:
    python = sys.executable
    fixed = [f"trainer.max_epochs={epochs}", *COMMON]
    results = []
    standalone = []
    start = time.perf_counter()
    for i in range(trials):
        run_dir = root / "standalone" / str(i)
        _run([python, "train.py", *fixed, f"hydra.run.dir={run_dir}", f"optimizer.lr={1e-3 * (1 + i)}"])
        standalone.append(run_dir)
    results.append(measure("standalone python train.py (baseline)", time.perf_counter() - start, standalone, 1))
    for name, launcher, parallel in (("sweep, basic launcher", [], 1), ("sweep, joblib launcher", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], 2)):
        sweep_dir = root / name.split()[-2]
        search = [
            "-m", "hparams_search=two_tower_optuna", f"hydra.sweep.dir={sweep_dir}", f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.n_jobs={parallel}", "hydra.sweeper.best_experiment=null", "hydra.sweeper.write_reports=false",
        ]  # fmt: skip
        wall = _run([python, "train.py", *search, *launcher, *fixed])
        results.append(measure(name, wall, sorted(sweep_dir.glob("trial_*")), parallel))
    base = results[0]["overhead_per_trial_seconds"]
    for row in results[1:]:
        row["overhead_vs_standalone"] = round(row["overhead_per_trial_seconds"] / base, 3) if base else None
    return {"benchmark": "sweep_overhead", "epochs": epochs, "results": results, "machine": machine.describe()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--output", type=Path, default=machine.default_output("sweep"))
    args = parser.parse_args(argv)
    if args.trials < 1 or args.epochs < 1:
        parser.error("--trials and --epochs must be >= 1")
    (recsys.REPO_ROOT / "outputs").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-", dir=recsys.REPO_ROOT / "outputs") as root:
        machine.emit(benchmark(args.trials, args.epochs, Path(root)), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
