"""Console helpers shared by the entry points."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from recsys.evaluation.metrics import METRIC_NAMES


def metrics_table(metrics: dict[str, Any]) -> str:
    """A table of val and test metrics, one row per metric@K."""
    names = [key for key in metrics.get("test", {}) if key.split("@")[0] in METRIC_NAMES]
    rows = [[name, metrics.get("val", {}).get(name), metrics["test"][name]] for name in names]
    return tabulate(rows, headers=["metric", "val", "test"], floatfmt=".4f", tablefmt="github")


def print_metrics(metrics: dict[str, Any]) -> None:
    """Print the run's metrics table and where its run directory is (rank 0 only)."""
    if not metrics:
        return
    print(f"\n{metrics.get('model')} on {metrics.get('data')} (split {metrics.get('split')})")
    print(metrics_table(metrics))
    if metrics.get("train_seconds") is not None:
        print(f"train {metrics['train_seconds']} s, eval {metrics['eval_seconds']} s")
    if metrics.get("run_dir"):
        print(f"run directory: {metrics['run_dir']}")
