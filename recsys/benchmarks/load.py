"""An open-loop HTTP load generator: requests at a fixed rate, latency from the scheduled time.

Run in its own process (``python -m recsys.benchmarks.load ...``) so that the client does not share
an interpreter with the server. Latencies are measured from when a request was *due*, not when
it was sent, so a server that falls behind is charged for the queue it builds (no coordinated
omission). Prints one JSON object: throughput, errors and p50/p95/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

import httpx
import numpy as np


def summary(latencies_ms: list[float], errors: int, duration_s: float, rate: float) -> dict[str, Any]:
    values = np.asarray(latencies_ms, dtype=np.float64)
    done = int(values.size)
    pct = (lambda q: round(float(np.percentile(values, q)), 3)) if done else (lambda q: None)
    return {
        "target_rps": rate,
        "duration_s": round(duration_s, 3),
        "requests": done + errors,
        "ok": done,
        "errors": errors,
        "throughput_rps": round(done / duration_s, 1) if duration_s > 0 else None,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": round(float(values.max()), 3) if done else None,
    }


async def run_load(url: str, bodies: list[dict], rate: float, duration: float, concurrency: int = 256, seed: int = 0) -> dict[str, Any]:
    """POST ``bodies`` (cycled in a seeded random order) to ``url`` at ``rate`` requests/s for ``duration`` s."""
    rng = random.Random(seed)
    order = [rng.randrange(len(bodies)) for _ in range(int(rate * duration))]
    latencies: list[float] = []
    errors = 0
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:

        async def one(due: float, body: dict) -> None:
            nonlocal errors
            async with semaphore:
                try:
                    response = await client.post(url, json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
            if ok:
                latencies.append((time.perf_counter() - due) * 1000.0)
            else:
                errors += 1

        start = time.perf_counter()
        tasks = []
        for i, index in enumerate(order):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, bodies[index])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return summary(latencies, errors, elapsed, rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="a JSON file with a list of request bodies")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        print("--rate and --duration must be > 0", file=sys.stderr)
        return 2
    with open(args.bodies) as handle:
        bodies = json.load(handle)
    if args.warmup > 0:
        asyncio.run(run_load(args.url, bodies, args.rate, args.warmup, seed=1))
    print(json.dumps(asyncio.run(run_load(args.url, bodies, args.rate, args.duration))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
