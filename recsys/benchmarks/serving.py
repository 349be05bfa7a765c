"""``recsys-bench-serving``: latency and throughput of ``bentoml serve`` under an open-loop load.

For each packaged model (a BentoML tag in ``$BENTOML_HOME``) and each service setting (Edge HNSW
with and without the cache, Edge exact, two workers), it starts the real service, drives each
endpoint from a separate load process (``recsys.benchmarks.load``) at a fixed rate and records
throughput, errors and p50/p95/p99. In the same run, a BentoML service that returns a constant
(``constant_service.py``, same request/response models) gives the framework's floor. Writes
``bench_serving.json`` and ``serving_speed.md`` under ``--out`` (default ``outputs/bench_serving``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsys.benchmarks.machine import describe, summary
from recsys.serving.bundle import ServingBundle
from recsys.serving.server_process import running_service
from recsys.utils.atomic import write_json_atomic, write_text_atomic

# name -> RECSYS_SERVE overrides; no cache = every result expires at once (the miss path is paid)
SETTINGS = {
    "hnsw+cache": "",
    "hnsw": "limits.result_ttl=0.001",
    "exact": "limits.result_ttl=0.001 retriever.exact=true",
    "hnsw, 2 workers": "limits.result_ttl=0.001 workers=2",
    "hnsw+cache, 2 workers": "workers=2",
}


def request_bodies(bundle: ServingBundle, n: int = 2000, seed: int = 0) -> dict[str, list[dict]]:
    """Bodies per endpoint: known users (top-10, their rated movies excluded), similar movies, onboarding."""
    rng = np.random.default_rng(seed)
    users = bundle.users["userId"].to_numpy()
    movies = bundle.items.loc[bundle.catalog, "movieId"].to_numpy()
    return {
        "recommend": [{"user_id": int(u), "k": 10} for u in rng.choice(users, n)],
        "similar": [{"movie_id": int(m), "k": 10} for m in rng.choice(movies, n)],
        "onboarding": [{"session": f"s{i}"} for i in range(n)],
    }


def drive(url: str, bodies: list[dict], rate: float, duration: float, warmup: float) -> dict[str, Any]:
    """Run the load generator in its own process against ``url``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(bodies, handle)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "recsys.benchmarks.load", "--url", url, "--bodies", handle.name,
             "--rate", str(rate), "--duration", str(duration), "--warmup", str(warmup)],
            capture_output=True, text=True, timeout=duration * 10 + 120, check=True,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_model(home: Path, tag: str, out: Path, rate: float, duration: float, warmup: float, settings: list[str]) -> list[dict]:
    name, version = tag.split(":")
    bundle = ServingBundle.load(home / "models" / name / version)
    bodies = request_bodies(bundle)
    rows = []
    for setting in settings:
        log = out / "logs" / f"{version}-{setting.replace(' ', '_').replace(',', '')}.log"
        with running_service(home, log, RECSYS_MODEL=tag, RECSYS_SERVE=SETTINGS[setting]) as url:
            endpoints = ["recommend", "similar", "onboarding"] if setting == "hnsw+cache" else ["recommend"]
            for endpoint in endpoints:
                result = drive(f"{url}/{endpoint}", bodies[endpoint], rate, duration, warmup)
                rows.append({"catalog": len(bundle.catalog), "model": tag, "setting": setting, "endpoint": endpoint, **result})
                print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def bench_constant(home: Path, out: Path, rate: float, duration: float, warmup: float, workers: int) -> dict:
    log = out / "logs" / f"constant-{workers}.log"
    with running_service(home, log, target="recsys.benchmarks.constant_service:Constant", RECSYS_BENCH_WORKERS=str(workers)) as url:
        result = drive(f"{url}/recommend", [{"user_id": 1, "k": 10}], rate, duration, warmup)
    setting = "framework floor" + (f", {workers} workers" if workers > 1 else "")
    return {"catalog": None, "model": "constant", "setting": setting, "endpoint": "recommend", **result}


def markdown(rows: list[dict], machine: dict, command: str) -> str:
    head = "| catalogue | setting | endpoint | target rps | throughput rps | errors | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['catalog'] or '-'} | {r['setting']} | {r['endpoint']} | {r['target_rps']:.0f} | {r['throughput_rps']} | {r['errors']} "
        f"| {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |\n"
        for r in rows
    )
    return f"# Serving speed\n\nCommand: `{command}`\n\nMachine: {summary()}\n\n{head}{body}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recsys-bench-serving", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="BentoML tags (recsys:<version>) in $BENTOML_HOME")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_serving"))
    args = parser.parse_args(argv)
    home = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
    missing = [t for t in args.models if ":" not in t or not (home / "models" / t.split(":")[0] / t.split(":")[1]).exists()]
    if missing:
        print(f"recsys-bench-serving: {missing} not in {home}/models (package runs with recsys-package; set BENTOML_HOME)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = [bench_constant(home, args.out, args.rate, args.duration, args.warmup, workers) for workers in (1, 2)]
    for tag in args.models:
        rows += bench_model(home, tag, args.out, args.rate, args.duration, args.warmup, args.settings)
    machine = describe()
    result = {"machine": machine, "rate": args.rate, "duration_s": args.duration, "rows": rows, "wall_s": round(time.perf_counter() - start, 1)}
    write_json_atomic(args.out / "bench_serving.json", result)
    write_text_atomic(args.out / "serving_speed.md", markdown(rows, machine, "recsys-bench-serving " + " ".join(argv or sys.argv[1:])))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
