"""``recsys-leaderboard`` (recsys.reports.leaderboard) end to end on two cheap baselines of the bundled data."""

from __future__ import annotations

from pathlib import Path

import pytest

import recsys
from recsys.reports import leaderboard


def test_leaderboard_writes_table_and_plot(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    md, png = leaderboard.run(leaderboard.parse_args([
        "--data", "ml_latest_small", "--split", "random", "--models", "popularity", "random",
        "--output-root", str(tmp_path / "runs"), "--out-dir", str(tmp_path / "experiments"),
        "--extra-overrides", f"data.processed_root={processed_root}",
    ]))
    assert md == tmp_path / "experiments" / "leaderboard_ml_latest_small.md"
    assert png.exists() and png.stat().st_size > 1000
    text = md.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    for column in ("recall@10", "precision@10", "ndcg@10", "hit_rate@10", "map@10", "coverage@10", "novelty@10",
                   "val ndcg@10", "train s", "eval s"):
        assert column in header
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| popularity") or line.startswith("| random")}
    assert set(rows) == {"popularity", "random"}
    ndcg = {m: float(rows[m].split("|")[4].strip("* ")) for m in rows}
    assert ndcg["popularity"] > ndcg["random"]  # the popularity baseline beats chance
    assert "Command: `recsys-leaderboard --data ml_latest_small --split random" in text and "Machine:" in text
    for model in ("popularity", "random"):
        assert (tmp_path / "runs" / "ml_latest_small" / model / "metrics.json").exists()


def test_reports_default_to_the_untracked_outputs_folder() -> None:
    args = leaderboard.parse_args([])
    assert args.out_dir == args.output_root == recsys.REPO_ROOT / "outputs" / "leaderboard"


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="choose from"):
        leaderboard.compose_run("nope", "ml_latest_small", "random", tmp_path, [])
