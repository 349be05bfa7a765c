"""recsys-bench-scale: the power-law fit, and every stage end to end at a toy size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.benchmarks import scale


def test_power_fit_recovers_the_exponent_and_needs_two_sizes() -> None:
    points = [(n, 3.0 * (n / 1e6) ** 1.25) for n in (1e6, 5e6, 25e6)]
    assert scale.fit_power(points) == {"c": 3.0, "b": 1.25}
    assert scale.fit_power(points[:1]) is None


def test_sizes_keep_ml25m_proportions(tmp_path: Path) -> None:
    overrides = scale.data_overrides(5_000_000, tmp_path)
    assert "data.generator.n_users=32508" in overrides and "data.generator.n_items=11809" in overrides
    assert f"data.processed_root={tmp_path / 'processed'}" in overrides


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(SystemExit):
        scale.parse_args(["--stages", "process,serve"])


@pytest.mark.slow
def test_every_stage_runs_and_reports_time_memory_and_quality(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    code = scale.main(["--ratings", "200000", "300000", "--work", str(tmp_path / "work"), "--output", str(out),
                       "--train-overrides", "trainer=cpu", "trainer.max_epochs=1", "batch_size=512"])
    report = json.loads(out.read_text())
    assert code == 0, report
    for size in report["sizes"].values():
        assert list(size["stages"]) == list(scale.STAGES)
        assert all(s["seconds"] > 0 and s["peak_rss_gb"] > 0.05 for s in size["stages"].values())
        assert 0 < size["model"]["test/ndcg@10"] <= 1 and 0 < size["popularity"]["test/ndcg@10"] <= 1
    assert set(report["fits"]) == set(scale.STAGES)
    assert all(f["seconds"] is not None for f in report["fits"].values())
