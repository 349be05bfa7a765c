"""Stage timers and the per-approach result of the processing benchmark (its child processes)."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from typing import Any


class Stages:
    """Wall-clock seconds per named stage (repeated names add up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def timed(self, name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self(name):
                return fn(*args, **kwargs)
        return wrapper


def result(stages: dict[str, float], ds: dict, sizes: dict, mean_user_mean: float) -> dict[str, Any]:
    """Seconds per stage, peak RSS and CPU seconds of this process, and what the consistency check compares."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds_total": sum(stages.values()),
        "stages": stages,
        "peak_rss_gb": ru.ru_maxrss / 2**20,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "loadavg_end": os.getloadavg(),
        "check": {"n_ratings": ds["n_ratings"], "n_users": ds["n_users"], "n_movies": ds["n_movies"],
                  "avg_rating": ds["avg_rating"], "split_sizes": sizes,
                  "mean_user_rating_mean": float(mean_user_mean)},
    }  # fmt: skip
