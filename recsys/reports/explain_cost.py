"""``recsys-explain-report``: the daily report of LLM explanations, with the projected monthly cost.

Reads the monitor's event logs (``explain.log_dir``: ``explain-<UTC date>.jsonl``, one JSON line per
LLM call, cache hit or fallback, appended by every serving worker) and writes ``explain_report.md``
and ``explain_report.json`` to ``--out``: per day the LLM calls, accepted answers, cache hits,
fallbacks by cause, mean and p95 latency, tokens and cost by model; the projected monthly cost is
the mean daily cost of the last ``--days`` days with events, times 30.

    recsys-explain-report --log-dir outputs/explain_logs [--days 7] [--out outputs/explain_report]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from recsys.utils.atomic import write_json_atomic, write_text_atomic

DAYS_PER_MONTH = 30


def read_events(log_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Events by UTC day (the file's date); a line that is not JSON fails, naming file and line."""
    days: dict[str, list[dict[str, Any]]] = {}
    files = sorted(log_dir.glob("explain-*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{log_dir} has no explain-<date>.jsonl logs: serve with explain.log_dir={log_dir} first")
    for path in files:
        day = path.stem.removeprefix("explain-")
        events = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not JSON ({error.msg}); remove or repair the line") from None
        days[day] = events
    return days


def summarise_day(events: list[dict[str, Any]]) -> dict[str, Any]:
    calls = [e for e in events if e.get("event") == "call"]
    latency = np.array([float(e["seconds"]) for e in calls], dtype=np.float64)
    models: dict[str, dict[str, Any]] = defaultdict(lambda: {"tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "unpriced_calls": 0})
    for e in calls:
        m = models[str(e.get("model"))]
        m["tokens_in"] += int(e.get("tokens_in", 0))
        m["tokens_out"] += int(e.get("tokens_out", 0))
        if e.get("cost_usd") is None:
            m["unpriced_calls"] += 1
        else:
            m["cost_usd"] += float(e["cost_usd"])
    fallbacks = Counter(str(e.get("cause")) for e in events if e.get("event") == "fallback")
    hits = sum(e.get("event") == "cache_hit" for e in events)
    accepted = sum(bool(e.get("accepted")) for e in calls)
    return {
        "llm_calls": len(calls),
        "generated": accepted,
        "cache_hits": hits,
        "fallbacks": dict(sorted(fallbacks.items())),
        "latency_mean_s": float(latency.mean()) if len(latency) else None,
        "latency_p95_s": float(np.percentile(latency, 95)) if len(latency) else None,
        "models": dict(models),
        "cost_usd": float(sum(m["cost_usd"] for m in models.values())),
    }


def report(log_dir: Path, days: int = 7) -> dict[str, Any]:
    by_day = {day: summarise_day(events) for day, events in read_events(log_dir).items()}
    recent = sorted(by_day)[-days:]
    daily = float(np.mean([by_day[d]["cost_usd"] for d in recent]))
    return {"log_dir": str(log_dir), "days": by_day, "projection": {"days_used": recent, "mean_daily_cost_usd": daily, "monthly_cost_usd": daily * DAYS_PER_MONTH}}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# LLM explanations: daily report",
        "",
        f"Logs: `{result['log_dir']}`. Cost is estimated from `explain.prices` (USD per million tokens).",
        "",
        "| day | LLM calls | accepted | cache hits | fallbacks | mean latency s | p95 latency s | tokens in | tokens out | cost USD |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    for day, d in sorted(result["days"].items()):
        tokens_in = sum(m["tokens_in"] for m in d["models"].values())
        tokens_out = sum(m["tokens_out"] for m in d["models"].values())
        fallbacks = ", ".join(f"{k} {v}" for k, v in d["fallbacks"].items()) or "none"
        lines.append(
            f"| {day} | {d['llm_calls']} | {d['generated']} | {d['cache_hits']} | {fallbacks} | {fmt(d['latency_mean_s'])} | "
            f"{fmt(d['latency_p95_s'])} | {tokens_in} | {tokens_out} | {d['cost_usd']:.4f} |"
        )
    p = result["projection"]
    lines += ["", f"**Projected monthly cost: {p['monthly_cost_usd']:.2f} USD** ({p['mean_daily_cost_usd']:.4f} USD a day, the mean of {len(p['days_used'])} day(s): {', '.join(p['days_used'])}, times {DAYS_PER_MONTH})."]
    unpriced = sorted({m for d in result["days"].values() for m, u in d["models"].items() if u["unpriced_calls"]})
    if unpriced:
        lines.append(f"\nModels without a price (not in the cost): {', '.join(unpriced)}; add them to explain.prices.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recsys-explain-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-dir", type=Path, required=True, help="the service's explain.log_dir")
    parser.add_argument("--days", type=int, default=7, help="days the monthly projection averages (default 7)")
    parser.add_argument("--out", type=Path, default=Path("outputs/explain_report"), help="folder for the report")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error(f"--days {args.days}: use 1 or more")
    try:
        result = report(args.log_dir, args.days)
    except (FileNotFoundError, ValueError) as error:
        print(f"recsys-explain-report: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "explain_report.json", result)
    write_text_atomic(args.out / "explain_report.md", markdown(result))
    print(json.dumps({"out": str(args.out), **result["projection"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
