"""Markdown table of finished training runs, read from their ``metrics.json`` (no typed numbers).

Usage:
    python scripts/loss_table.py --run "loss=bpr" outputs/train/<stamp>/ "python train.py loss=bpr ..." \\
        [--run LABEL RUN_DIR COMMAND ...] [--out outputs/losses_ml_latest_small_table.md]

Each ``--run`` names a row label, a run directory (Hydra's ``outputs/train/<timestamp>``) and the
exact command that produced it. The table has val and test at K=10 for every metric of
``recsys.evaluation.metrics`` (recall, precision, ndcg, hit_rate, map, coverage, novelty), the
epoch of the best checkpoint and the seed (from the run's ``config.yaml``), then a footer with the
machine (CPU, cores, torch) and the load (``uptime``) when the table was written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import torch
from omegaconf import OmegaConf

METRICS = ("recall", "precision", "ndcg", "hit_rate", "map", "coverage", "novelty")
K = 10


def _best_epoch(metrics: dict) -> str:
    match = re.search(r"epoch(\d+)", Path(metrics.get("best_checkpoint") or "").name)
    return str(int(match.group(1))) if match else "-"


def row(label: str, run_dir: Path) -> str:
    """One table row: label, val then test metrics @K, best epoch, seed."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cfg = OmegaConf.load(run_dir / "config.yaml")
    cells = [f"{metrics[split][f'{name}@{K}']:.4f}" for split in ("val", "test") for name in METRICS]
    return f"| {label} | " + " | ".join(cells) + f" | {_best_epoch(metrics)} | {cfg.get('seed')} |"


def machine() -> str:
    """CPU model, core count, torch version and the current load."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = names[0] if names else cpu
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}; `uptime` when written: `{uptime}`"


def table(runs: list[tuple[str, Path, str]]) -> str:
    """The markdown table, then the command of every row."""
    head = [f"{split} {name}@{K}" for split in ("val", "test") for name in METRICS]
    lines = [
        "| run | " + " | ".join(head) + " | best epoch | seed |",
        "|---|" + "---|" * (len(head) + 2),
        *(row(label, run_dir) for label, run_dir, _ in runs),
        "",
        "Commands (run directory in brackets):",
        "",
        *(f"- {label}: `{command}` ({run_dir})" for label, run_dir, command in runs),
        "",
        f"Machine: {machine()}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=3, action="append", metavar=("LABEL", "RUN_DIR", "COMMAND"), required=True)
    parser.add_argument("--out", type=Path, default=Path("outputs/losses_ml_latest_small_table.md"))
    args = parser.parse_args()
    text = table([(label, Path(run_dir), command) for label, run_dir, command in args.run])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
