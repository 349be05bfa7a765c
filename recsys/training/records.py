"""The content of a run's ``metrics.json``, built the same way for every kind of model."""

from __future__ import annotations

from typing import Any


def metrics_record(reports: dict[str, Any], train_seconds: float, eval_seconds: float, best: str) -> dict[str, Any]:
    """``{"val": {...}, "test": {...}, "test_by_activity": ..., seconds, best checkpoint}`` from reports."""
    metrics: dict[str, Any] = {split: dict(report.overall) for split, report in reports.items()}
    metrics["test_by_activity"] = reports["test"].by_activity
    metrics["train_seconds"] = round(train_seconds, 3)
    metrics["eval_seconds"] = round(eval_seconds, 3)
    metrics["best_checkpoint"] = best
    return metrics
