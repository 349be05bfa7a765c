"""The loss study: each loss tuned by the same sweeper and budget, chosen on val, then tested.

Usage (the sweeps first; see experiments/loss_study_ml_latest_small.md for the exact commands):

    python train.py -m hparams_search=two_tower_optuna loss=<loss> hydra.sweeper.study_name=loss_<loss> ...
    python train.py -m hparams_search=ease_optuna hydra.sweeper.study_name=loss_ease
    recsys-loss-study --run-seeds          # 2 more seeds of each study's best trial (its own is the 3rd)
    recsys-loss-study [--out experiments]  # the table and the plot

Each study's best trial is chosen on val NDCG@10 by the study itself; its test metrics are read
from the trial's ``metrics.json`` only for the table. Seed variance: the best trial's experiment
(``conf/experiment/<study>_best.yaml``) trained with the extra seeds, mean and standard deviation
over the three seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

import recsys  # noqa: E402
from recsys.benchmarks.machine import summary  # noqa: E402
from recsys.evaluation.metrics import METRIC_NAMES  # noqa: E402
from recsys.utils.atomic import write_text_atomic  # noqa: E402

STUDIES = ("mse", "bpr", "combined", "softmax", "sampled_softmax", "full_softmax", "ease", "als")
EXTRA_SEEDS = (43, 44)
K = 10


def load(sweeps: Path, name: str) -> optuna.Study | None:
    """The study ``loss_<name>`` if it has a completed trial, else ``None`` (not run or just started)."""
    db = sweeps / f"loss_{name}" / "optuna.db"
    if not db.exists():
        return None
    try:
        study = optuna.load_study(study_name=f"loss_{name}", storage=f"sqlite:///{db}")
    except KeyError:  # the database exists, the study not yet
        return None
    return study if any(t.state == TrialState.COMPLETE for t in study.trials) else None


def trial_metrics(sweeps: Path, name: str, number: int) -> dict[str, Any]:
    return json.loads((sweeps / f"loss_{name}" / f"trial_{number:04d}" / "metrics.json").read_text())


def seed_metrics(sweeps: Path, name: str, best: dict[str, Any], seed_root: Path) -> list[dict[str, Any]]:
    runs = [best] + [
        json.loads((seed_root / f"loss_{name}" / f"seed{s}" / "metrics.json").read_text())
        for s in EXTRA_SEEDS
        if (seed_root / f"loss_{name}" / f"seed{s}" / "metrics.json").exists()
    ]
    return runs


def run_seeds(sweeps: Path, seed_root: Path, studies: tuple[str, ...] = STUDIES, parallel: int = 2) -> None:
    """Train the best experiment of each of ``studies`` with the extra seeds, ``parallel`` runs at
    a time (skips runs that finished before)."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    commands = []
    for name in studies:
        if load(sweeps, name) is None:
            continue
        for seed in EXTRA_SEEDS:
            run_dir = seed_root / f"loss_{name}" / f"seed{seed}"
            if not (run_dir / "metrics.json").exists():
                commands.append([sys.executable, "train.py", f"experiment=loss_{name}_best", f"seed={seed}",
                                 f"hydra.run.dir={run_dir}", "logger=none", "trainer.enable_progress_bar=false"])  # fmt: skip
    started: list[subprocess.Popen] = []
    for command in commands:
        while sum(p.poll() is None for p in started) >= parallel:
            time.sleep(1)
        print(" ".join(command[1:]), file=sys.stderr, flush=True)
        started.append(subprocess.Popen(command, cwd=recsys.REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    failed = [p.args for p in started if p.wait() != 0]
    if failed:
        raise SystemExit(f"seed runs failed: {failed}")


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f} (1 seed)" if values else "-"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n={len(values)})"


def build(sweeps: Path, seed_root: Path, out: Path) -> Path:
    rows, curves, seeds = [], {}, {}
    for name in STUDIES:
        study = load(sweeps, name)
        if study is None:
            continue
        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        best = study.best_trial
        metrics = trial_metrics(sweeps, name, best.number)
        runs = seed_metrics(sweeps, name, metrics, seed_root)
        seeds[name] = ([r["val"][f"ndcg@{K}"] for r in runs], [r["test"][f"ndcg@{K}"] for r in runs])
        curves[name] = [t.value for t in sorted(complete, key=lambda t: t.number)]
        rows.append((name, len(complete), best, metrics))
    if not rows:
        raise SystemExit(f"no loss_<name> studies under {sweeps}")
    out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name, values in curves.items():
        axes.plot(range(len(values)), values, marker=".", label=f"{name} (best so far: dashed)")
        axes.plot(range(len(values)), [max(values[: i + 1]) for i in range(len(values))], linestyle="--", color=axes.lines[-1].get_color())
    axes.set_xlabel("trial")
    axes.set_ylabel(f"val NDCG@{K}")
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    plot = out / "loss_study_val_per_trial.png"
    figure.savefig(plot, dpi=120)
    plt.close(figure)

    head = ["study", "trials", "best trial", *(f"val {m}@{K}" for m in METRIC_NAMES), *(f"test {m}@{K}" for m in METRIC_NAMES)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, n, best, metrics in sorted(rows, key=lambda r: -r[2].value):
        cells = [name, str(n), str(best.number)]
        cells += [f"{metrics[s][f'{m}@{K}']:.4f}" for s in ("val", "test") for m in METRIC_NAMES]
        lines.append("| " + " | ".join(cells) + " |")
    seed_lines = ["| study | val NDCG@10 over seeds | test NDCG@10 over seeds |", "|---|---|---|"]
    for name, (val, test) in seeds.items():
        seed_lines.append(f"| {name} | {_mean_std(val)} | {_mean_std(test)} |")
    params = [f"- `loss_{name}` (trial {best.number}): " + ", ".join(f"`{k}={v:.4g}`" if isinstance(v, float) else f"`{k}={v}`" for k, v in best.params.items()) for name, _, best, _ in rows]
    text = "\n".join([
        "## Best trial of each study (chosen on val NDCG@10; test read afterwards)", "", *lines, "",
        f"## Seed variance of each study's best configuration (seeds 42, {', '.join(map(str, EXTRA_SEEDS))})", "", *seed_lines, "",
        "## Best parameters (`conf/experiment/loss_<name>_best.yaml`)", "", *params, "",
        f"![val NDCG@10 per trial]({plot.name})", "",
        f"Machine when the table was written: {summary()}", "",
    ])  # fmt: skip
    table = out / "loss_study_table.md"
    write_text_atomic(table, text)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", type=Path, default=recsys.REPO_ROOT / "multirun" / "train")
    parser.add_argument("--seed-root", type=Path, default=recsys.REPO_ROOT / "outputs" / "loss_study_seeds")
    parser.add_argument("--out", type=Path, default=recsys.REPO_ROOT / "outputs" / "loss_study")
    parser.add_argument("--run-seeds", action="store_true", help="train the extra seeds of each best trial first")
    parser.add_argument("--seed-studies", default=",".join(STUDIES), help=f"studies whose best trial gets the extra seeds (default: all of {','.join(STUDIES)})")
    args = parser.parse_args(argv)
    studies = tuple(s for s in args.seed_studies.split(",") if s)
    if unknown := set(studies) - set(STUDIES):
        parser.error(f"--seed-studies: unknown {sorted(unknown)}; choose from {','.join(STUDIES)}")
    if args.run_seeds:
        run_seeds(args.sweeps, args.seed_root, studies)
    print(build(args.sweeps, args.seed_root, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
