"""Leaderboard: train and evaluate several models on one data set and split, same protocol.

Usage:
    recsys-leaderboard --data ml_latest_small --split random \\
        --models popularity random itemknn ease als two_tower mf [--extra-overrides trainer.max_epochs=5]

Each model name maps to Hydra overrides of ``conf/train.yaml`` (``MODELS``); ``two_tower_best``
is ``experiment=two_tower_best`` (``two_tower_best_ensemble``: three seeds of it, concatenated). Every run goes through ``recsys.training.run.train(cfg)`` with
its own run directory (``<output-root>/<data>/<model>``). Writes
``<out-dir>/leaderboard_<data>.md`` (test metrics at K=10, val NDCG@10, timings, command and
machine) and ``<out-dir>/leaderboard_<data>.png`` (NDCG@10 vs Coverage@10); both roots default to
``outputs/leaderboard`` (``--out-dir experiments`` refreshes the committed report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from tqdm import tqdm  # noqa: E402

import recsys  # noqa: E402
from recsys.evaluation.metrics import METRIC_NAMES  # noqa: E402
from recsys.benchmarks.machine import summary  # noqa: E402
from recsys.utils.compose import compose_config  # noqa: E402

MODELS: dict[str, list[str]] = {
    "popularity": ["model=popularity"],
    "random": ["model=random"],
    "itemknn": ["model=itemknn"],
    "ease": ["model=ease"],
    "als": ["model=als"],
    "two_tower": ["model=two_tower"],
    "mf": ["model=mf"],
    "two_tower_best": ["experiment=two_tower_best"],
    "two_tower_best_ensemble": ["experiment=two_tower_best_ensemble"],
}
METRICS = METRIC_NAMES
BASE_OVERRIDES = ["logger=none", "trainer.enable_progress_bar=false"]
OUTPUT_ROOT = recsys.REPO_ROOT / "outputs" / "leaderboard"


def compose_run(model: str, data: str, split: str, output_dir: Path, extra: list[str]) -> DictConfig:
    """``conf/train.yaml`` composed for one leaderboard entry."""
    if model not in MODELS:
        raise SystemExit(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    overrides = [
        *BASE_OVERRIDES,
        f"data={data}",
        f"data/split={split}",
        *MODELS[model],
        f"paths.output_dir={output_dir}",
        *extra,
    ]
    return compose_config("train", overrides)


def run_all(models: list[str], data: str, split: str, output_root: Path, extra: list[str]) -> list[dict[str, Any]]:
    """Train and evaluate each model in turn; one row of results per model."""
    from recsys.training.run import train

    rows = []
    for model in tqdm(models, desc="leaderboard", unit="model"):
        cfg = compose_run(model, data, split, output_root / data / model, extra)
        metrics, _ = train(cfg)
        rows.append({**metrics, "target": metrics.get("model"), "model": model, "run_dir": str(output_root / data / model)})
    return rows


def table(rows: list[dict[str, Any]], k: int = 10) -> str:
    """Markdown table: model, test metrics at ``k``, val NDCG@k, seconds; best NDCG in bold."""
    best = max((r["test"][f"ndcg@{k}"] for r in rows), default=None)
    head = ["model", *(f"{m}@{k}" for m in METRICS), f"val ndcg@{k}", "train s", "eval s"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in sorted(rows, key=lambda r: -r["test"][f"ndcg@{k}"]):
        cells = [f"{r['test'][f'{m}@{k}']:.4f}" for m in METRICS]
        if r["test"][f"ndcg@{k}"] == best:
            cells[METRICS.index("ndcg")] = f"**{cells[METRICS.index('ndcg')]}**"
        val = r.get("val", {}).get(f"ndcg@{k}", float("nan"))
        lines.append(
            f"| {r['model']} | " + " | ".join(cells) + f" | {val:.4f} | {r['train_seconds']:.1f} | {r['eval_seconds']:.1f} |"
        )
    return "\n".join(lines)


def write_report(rows: list[dict[str, Any]], data: str, split: str, out_dir: Path, command: str) -> tuple[Path, Path]:
    """Write ``leaderboard_<data>.md`` and ``.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / f"leaderboard_{data}.md", out_dir / f"leaderboard_{data}.png"
    n_users = int(rows[0]["test"].get("n_users", 0)) if rows else 0
    text = [
        f"# Leaderboard: {data} ({split} split)",
        "",
        f"Full-ranking evaluation on the **test** split ({n_users} users with a relevant item; "
        "training and validation items excluded; relevant = rating >= the eval threshold), K = 10. "
        "`val ndcg@10` is the model-selection metric. novelty@10 is the mean popularity percentile "
        "of the recommended items (lower = more novel). Seconds are wall-clock on the machine below.",
        "",
        table(rows),
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {summary()}",
        "",
        f"![NDCG@10 vs Coverage@10](leaderboard_{data}.png)",
        "",
    ]
    md.write_text("\n".join(text))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in rows:
        x, y = r["test"]["coverage@10"], r["test"]["ndcg@10"]
        ax.scatter([x], [y], s=40)
        ax.annotate(r["model"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlabel("Coverage@10 (test)")
    ax.set_ylabel("NDCG@10 (test)")
    ax.set_title(f"{data} ({split}): accuracy vs catalogue coverage")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return md, png


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``argv`` is kept on the namespace for the report's command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ml_latest_small", help="a conf/data option")
    parser.add_argument("--split", default="random", help="a split of that data config (data/split=<name>)")
    parser.add_argument("--models", nargs="+", default=["popularity", "random", "itemknn", "ease", "als", "two_tower", "mf"])
    parser.add_argument("--extra-overrides", nargs="*", default=[], help="Hydra overrides applied to every model")
    parser.add_argument("--output-root", type=Path, default=OUTPUT_ROOT, help="run directories (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=OUTPUT_ROOT, help="report folder (default: %(default)s)")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return args


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    """Runs every model and writes the report; returns the markdown and figure paths."""
    command = " ".join(["recsys-leaderboard", *args.argv])
    rows = run_all(args.models, args.data, args.split, args.output_root, args.extra_overrides)
    md, png = write_report(rows, args.data, args.split, args.out_dir, command)
    print(md.read_text())
    return md, png


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-leaderboard`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.reports.leaderboard (the installed command calls main too)
    raise SystemExit(main())
