"""What LLM explanations cost and how they behave: counts, latency, tokens and money.

:class:`ExplanationMonitor` counts every explanation asked for (``requests``), cache hits, LLM
calls, accepted answers (``generated``), fallbacks to the template by cause, the latency of LLM
calls (mean and p95 over the last ``window`` calls), tokens in and out and the estimated cost by
model (``prices``: USD per million tokens, from config). :meth:`snapshot` is what the service's
``/explain/monitor`` endpoint returns; a :class:`PrometheusSink` mirrors the same events as
Prometheus metrics (BentoML's ``/metrics``); ``log_dir`` appends one JSON line per event to
``explain-<UTC date>.jsonl``, the input of the daily report (``recsys-explain-report``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np


def cost_usd(prices: Mapping[str, Mapping[str, float]], model: str, tokens_in: int, tokens_out: int) -> float | None:
    """Estimated cost of one call (None when ``model`` has no price)."""
    price = prices.get(model)
    if price is None:
        return None
    return (tokens_in * float(price["input"]) + tokens_out * float(price["output"])) / 1e6


class PrometheusSink:
    """The monitor's events as Prometheus metrics (``recsys_explain_*``).

    Create one per process (metric names are registered once); ``registry`` None is the default
    registry, which BentoML's ``/metrics`` collects (prometheus_client is imported here, after
    BentoML has set up its multi-process directory).
    """

    def __init__(self, registry: Any = None) -> None:
        import prometheus_client as prom

        kw = {"registry": registry} if registry is not None else {}
        self.requests = prom.Counter("recsys_explain_requests", "explanations asked for", **kw)
        self.cache_hits = prom.Counter("recsys_explain_cache_hits", "LLM explanations served from the cache", **kw)
        self.generated = prom.Counter("recsys_explain_generated", "LLM answers accepted", ["model"], **kw)
        self.fallbacks = prom.Counter("recsys_explain_fallbacks", "template answers where an LLM was asked", ["cause"], **kw)
        self.tokens = prom.Counter("recsys_explain_tokens", "tokens billed", ["model", "direction"], **kw)
        self.cost = prom.Counter("recsys_explain_cost_usd", "estimated cost in USD", ["model"], **kw)
        self.latency = prom.Histogram(
            "recsys_explain_llm_seconds", "LLM call latency", ["model"], buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10), **kw
        )


class ExplanationMonitor:
    """Thread-safe counters of one serving process (see the module docstring).

    Args:
        prices: model -> {"input": USD per 1M tokens, "output": USD per 1M tokens}.
        window: how many recent LLM call latencies the mean and p95 cover.
        sink: a :class:`PrometheusSink` (or None).
        log_dir: folder for the daily event logs (None: no log).
    """

    def __init__(self, prices: Mapping[str, Mapping[str, float]] | None = None, window: int = 10000, sink: Any = None, log_dir: str | Path | None = None) -> None:
        self.prices = {str(m): {"input": float(p["input"]), "output": float(p["output"])} for m, p in (prices or {}).items()}
        self.sink = sink
        self.log_dir = Path(log_dir) if log_dir else None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._latency: deque[float] = deque(maxlen=int(window))
        self.requests = self.cache_hits = self.llm_calls = self.generated = 0
        self.fallbacks: Counter[str] = Counter()
        self.tokens_in: Counter[str] = Counter()
        self.tokens_out: Counter[str] = Counter()
        self.cost: Counter[str] = Counter()
        self.unpriced: set[str] = set()

    def asked(self, n: int = 1) -> None:
        with self._lock:
            self.requests += n
        if self.sink is not None:
            self.sink.requests.inc(n)

    def cache_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1
        if self.sink is not None:
            self.sink.cache_hits.inc()
        self._log({"event": "cache_hit"})

    def called(self, model: str, seconds: float, tokens_in: int = 0, tokens_out: int = 0, accepted: bool = False) -> None:
        """One LLM call that returned (accepted or not); failed calls come with 0 tokens."""
        cost = cost_usd(self.prices, model, tokens_in, tokens_out)
        with self._lock:
            self.llm_calls += 1
            self.generated += int(accepted)
            self._latency.append(float(seconds))
            self.tokens_in[model] += int(tokens_in)
            self.tokens_out[model] += int(tokens_out)
            if cost is None:
                self.unpriced.add(model)
            else:
                self.cost[model] += cost
        if self.sink is not None:
            if accepted:
                self.sink.generated.labels(model).inc()
            self.sink.tokens.labels(model, "in").inc(tokens_in)
            self.sink.tokens.labels(model, "out").inc(tokens_out)
            self.sink.cost.labels(model).inc(cost or 0.0)
            self.sink.latency.labels(model).observe(seconds)
        self._log({"event": "call", "model": model, "seconds": round(seconds, 4), "tokens_in": tokens_in, "tokens_out": tokens_out, "accepted": accepted, "cost_usd": cost})

    def fell_back(self, cause: str) -> None:
        kind = cause.split(":")[0]
        with self._lock:
            self.fallbacks[kind] += 1
        if self.sink is not None:
            self.sink.fallbacks.labels(kind).inc()
        self._log({"event": "fallback", "cause": kind})

    def snapshot(self) -> dict[str, Any]:
        """The figures of this process since it started."""
        with self._lock:
            latency = np.array(self._latency, dtype=np.float64)
            models = sorted(set(self.tokens_in) | set(self.tokens_out))
            return {
                "requests": self.requests,
                "cache_hits": self.cache_hits,
                "cache_hit_rate": self.cache_hits / self.requests if self.requests else None,
                "llm_calls": self.llm_calls,
                "generated": self.generated,
                "fallbacks": dict(sorted(self.fallbacks.items())),
                "latency_mean_s": float(latency.mean()) if len(latency) else None,
                "latency_p95_s": float(np.percentile(latency, 95)) if len(latency) else None,
                "models": {
                    m: {"tokens_in": self.tokens_in[m], "tokens_out": self.tokens_out[m], "cost_usd": None if m in self.unpriced else self.cost[m]}
                    for m in models
                },
                "cost_usd": float(sum(self.cost.values())),
            }

    def _log(self, event: dict[str, Any]) -> None:
        if self.log_dir is None:
            return
        now = time.time()
        day = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d")
        line = json.dumps({"t": round(now, 3), **event}, separators=(",", ":")) + "\n"
        # one write per line with O_APPEND: lines of several workers never interleave
        fd = os.open(self.log_dir / f"explain-{day}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
