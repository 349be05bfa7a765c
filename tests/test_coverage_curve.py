"""``recsys-coverage-curve`` (recsys.reports.coverage_curve) end to end on a one-epoch two-tower run of the bundled data."""

from __future__ import annotations

from pathlib import Path

import pytest

import recsys
from recsys.reports import coverage_curve
from recsys.training.run import train
from tests.compose import compose_train


def test_report_defaults_to_the_untracked_outputs_folder(tmp_path: Path) -> None:
    args = coverage_curve.parse_args(["--run-dir", str(tmp_path)])
    assert args.out == recsys.REPO_ROOT / "outputs" / "coverage_curve"
    assert args.argv == ["--run-dir", str(tmp_path)]


@pytest.mark.slow
def test_coverage_curve_sweeps_every_reranker_and_chooses_on_val(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    run_dir = tmp_path / "run"
    train(compose_train(run_dir, processed_root))
    argv = ["--run-dir", str(run_dir), "--out", str(tmp_path / "out"), "--name", "cc"]
    md, chosen = coverage_curve.run(coverage_curve.parse_args(argv))
    assert md == tmp_path / "out" / "cc.md" and (tmp_path / "out" / "cc.png").stat().st_size > 1000
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| setting")]
    kinds = {row.split("|")[1].split()[0] for row in rows}
    assert kinds == {"none", "popularity_penalty", "mmr", "coverage"}
    base = next(row for row in rows if row.startswith("| none"))
    base_cov = float(base.split("|")[4])
    # the strongest coverage bonus spreads recommendations over more of the catalogue
    strongest = next(row for row in rows if row.startswith("| coverage bonus=3.0 candidates=200"))
    assert float(strongest.split("|")[4]) > base_cov
    if chosen is not None:  # chosen on val within the NDCG budget
        base_ndcg = float(base.split("|")[2])
        assert chosen["val/ndcg@10"] >= 0.95 * base_ndcg and chosen["val/coverage@10"] >= 0.20
    assert "![NDCG@10 vs Coverage@10](cc.png)" in text
    assert f"Command: `recsys-coverage-curve {' '.join(argv)}`" in text
