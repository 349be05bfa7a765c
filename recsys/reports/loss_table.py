"""Table of every documented loss at its defaults, read from the runs' ``metrics.json``.

Usage:
    # 1. the runs (each is the documented default command of its row, see ROWS)
    python train.py logger=none trainer.enable_progress_bar=false model=popularity
    python train.py logger=none trainer.enable_progress_bar=false loss=bpr
    ...
    # 2. the table (no typed numbers): the newest run under outputs/train of each row's command
    recsys-loss-table [--runs outputs/train] [--out outputs/losses_ml_latest_small_table.md]

A run belongs to a row when its Hydra overrides (``<run>/.hydra/overrides.yaml``) are exactly
``BASE + row``. Val and test at K=10 for every metric of ``recsys.evaluation.metrics``, the epoch
of the best checkpoint and the seed (from ``<run>/config.yaml``); then each row's command and run
directory, the machine and its load (``recsys.benchmarks.machine.summary``) when the table was written.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import yaml

import recsys
from recsys.benchmarks.machine import summary
from recsys.evaluation.metrics import METRIC_NAMES
from recsys.utils.atomic import write_text_atomic

BASE = ["logger=none", "trainer.enable_progress_bar=false"]
ROWS: dict[str, list[str]] = {
    "popularity": ["model=popularity"],
    # the default IS model=two_tower loss=softmax: one run serves both rows
    "default = two_tower softmax": [],
    "two_tower mse": ["model=two_tower", "loss=mse"],
    "two_tower bpr": ["model=two_tower", "loss=bpr"],
    "two_tower combined": ["model=two_tower", "loss=combined"],
    "two_tower sampled_softmax": ["model=two_tower", "loss=sampled_softmax"],
    "two_tower full_softmax": ["model=two_tower", "loss=full_softmax"],
    "mf mse": ["model=mf", "loss=mse"],
    "mf bpr": ["model=mf", "loss=bpr"],
}
K = 10


def command(overrides: list[str]) -> str:
    return " ".join(["python train.py", *BASE, *overrides])


def find_run(runs: Path, overrides: list[str]) -> Path | None:
    """Newest finished run directory whose Hydra overrides are exactly ``BASE + overrides``."""
    want = sorted([*BASE, *overrides])
    found = None
    for run in sorted(runs.iterdir()):
        saved = run / ".hydra" / "overrides.yaml"
        if saved.exists() and (run / "metrics.json").exists() and sorted(yaml.safe_load(saved.read_text()) or []) == want:
            found = run
    return found


def cells(run: Path) -> list[str]:
    """Val then test metrics @K, best epoch, seed."""
    metrics = json.loads((run / "metrics.json").read_text())
    seed = yaml.safe_load((run / "config.yaml").read_text()).get("seed")
    epoch = re.search(r"epoch(\d+)", Path(metrics.get("best_checkpoint") or "").name)
    values = [f"{metrics[split][f'{name}@{K}']:.4f}" for split in ("val", "test") for name in METRIC_NAMES]
    return [*values, str(int(epoch.group(1))) if epoch else "-", str(seed)]


def table(runs: Path) -> str:
    head = [f"{split} {name}@{K}" for split in ("val", "test") for name in METRIC_NAMES]
    lines = ["| run | " + " | ".join(head) + " | best epoch | seed |", "|---|" + "---|" * (len(head) + 2)]
    commands = []
    for label, overrides in ROWS.items():
        run = find_run(runs, overrides)
        lines.append(f"| {label} | " + " | ".join(cells(run) if run else ["(not run)"] * (len(head) + 2)) + " |")
        commands.append(f"- {label}: `{command(overrides)}` ({run or 'no run yet'})")
    return "\n".join([*lines, "", "Commands (run directory in brackets):", "", *commands, "", f"Machine: {summary()}", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=recsys.REPO_ROOT / "outputs" / "train")
    parser.add_argument("--out", type=Path, default=recsys.REPO_ROOT / "outputs" / "losses_ml_latest_small_table.md")
    parser.add_argument("--print-commands", action="store_true", help="print the commands of the rows and exit")
    args = parser.parse_args(argv)
    if args.print_commands:
        print("\n".join(command(o) for o in ROWS.values()))
        return 0
    text = table(args.runs)
    write_text_atomic(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
