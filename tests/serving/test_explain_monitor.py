"""The explanation monitor's figures, its Prometheus metrics and the daily cost report."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry

from recsys.explain.monitor import ExplanationMonitor, PrometheusSink, cost_usd
from recsys.reports.explain_cost import main

PRICES = {"m1": {"input": 1.0, "output": 4.0}}


def feed(monitor: ExplanationMonitor) -> None:
    monitor.asked(6)
    monitor.called("m1", 0.2, 1000, 100, accepted=True)
    monitor.called("m1", 0.4, 2000, 300, accepted=False)
    monitor.fell_back("rejected: names 'X'")
    monitor.called("m2", 1.0, 50, 10, accepted=True)  # no price
    monitor.called("m1", 3.0)  # failed call: no tokens
    monitor.fell_back("timeout")
    monitor.cache_hit()
    monitor.cache_hit()


def test_snapshot_and_prometheus_agree_with_what_was_recorded(tmp_path) -> None:
    registry = CollectorRegistry()
    monitor = ExplanationMonitor(prices=PRICES, sink=PrometheusSink(registry), log_dir=tmp_path)
    feed(monitor)
    snap = monitor.snapshot()
    assert snap["requests"] == 6 and snap["cache_hits"] == 2 and snap["cache_hit_rate"] == pytest.approx(2 / 6)
    assert snap["llm_calls"] == 4 and snap["generated"] == 2 and snap["fallbacks"] == {"rejected": 1, "timeout": 1}
    assert snap["latency_mean_s"] == pytest.approx(1.15) and snap["latency_p95_s"] == pytest.approx(2.7)
    assert snap["models"]["m1"] == {"tokens_in": 3000, "tokens_out": 400, "cost_usd": pytest.approx((3000 * 1 + 400 * 4) / 1e6)}
    assert snap["models"]["m2"]["cost_usd"] is None and snap["cost_usd"] == pytest.approx(0.0046)
    value = lambda name, **labels: registry.get_sample_value(name, labels)  # noqa: E731
    assert value("recsys_explain_requests_total") == 6 and value("recsys_explain_cache_hits_total") == 2
    assert value("recsys_explain_generated_total", model="m1") == 1 and value("recsys_explain_generated_total", model="m2") == 1
    assert value("recsys_explain_fallbacks_total", cause="rejected") == 1
    assert value("recsys_explain_tokens_total", model="m1", direction="in") == 3000
    assert value("recsys_explain_cost_usd_total", model="m1") == pytest.approx(0.0046)
    assert value("recsys_explain_llm_seconds_count", model="m1") == 3


def test_daily_report_projects_the_monthly_cost(tmp_path, capsys) -> None:
    logs = tmp_path / "logs"
    feed(ExplanationMonitor(prices=PRICES, log_dir=logs))
    today = next(logs.glob("explain-*.jsonl"))
    yesterday = logs / "explain-2000-01-01.jsonl"
    yesterday.write_text(json.dumps({"t": 0, "event": "call", "model": "m1", "seconds": 0.5, "tokens_in": 10000, "tokens_out": 1000,
                                     "accepted": True, "cost_usd": cost_usd(PRICES, "m1", 10000, 1000)}) + "\n")
    assert main(["--log-dir", str(logs), "--out", str(tmp_path / "report")]) == 0
    result = json.loads((tmp_path / "report" / "explain_report.json").read_text())
    day = result["days"][today.stem.removeprefix("explain-")]
    assert day["llm_calls"] == 4 and day["generated"] == 2 and day["cache_hits"] == 2 and day["fallbacks"] == {"rejected": 1, "timeout": 1}
    assert day["cost_usd"] == pytest.approx(0.0046) and result["days"]["2000-01-01"]["cost_usd"] == pytest.approx(0.014)
    assert result["projection"]["monthly_cost_usd"] == pytest.approx((0.0046 + 0.014) / 2 * 30)
    md = (tmp_path / "report" / "explain_report.md").read_text()
    assert "Projected monthly cost: 0.28 USD" in md and "m2" in md  # m2 has no price: named
    assert json.loads(capsys.readouterr().out)["monthly_cost_usd"] == pytest.approx(0.279)

    today.write_text(today.read_text() + "{not json\n")
    assert main(["--log-dir", str(logs), "--out", str(tmp_path / "report")]) == 2
    assert f"{today}, line 9" in capsys.readouterr().err
    assert main(["--log-dir", str(tmp_path / "none")]) == 2
