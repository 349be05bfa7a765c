"""Console helpers shared by the entry points."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

TABLE_METRICS = ("recall", "precision", "ndcg", "hit_rate", "map", "coverage", "novelty")


def metrics_table(metrics: dict[str, Any]) -> str:
    """A table of val and test metrics, one row per metric@K."""
    names = [key for key in metrics.get("test", {}) if key.split("@")[0] in TABLE_METRICS]
    rows = [[name, metrics.get("val", {}).get(name), metrics["test"][name]] for name in names]
    return tabulate(rows, headers=["metric", "val", "test"], floatfmt=".4f", tablefmt="github")


def print_metrics(metrics: dict[str, Any]) -> None:
    """Print the run's metrics table (rank 0 only: other ranks have empty metrics)."""
    if not metrics:
        return
    print(f"\n{metrics.get('model')} on {metrics.get('data')} (split {metrics.get('split')})")
    print(metrics_table(metrics))
    if metrics.get("train_seconds") is not None:
        print(f"train {metrics['train_seconds']} s, eval {metrics['eval_seconds']} s")
