"""The loss-study report reads each study's best trial (chosen on val) and its seeds."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from recsys.benchmarks.sweep import measure
from recsys.evaluation.metrics import METRIC_NAMES
from recsys.reports.loss_study import build


def _metrics(val: float, test: float) -> dict:
    return {split: {f"{m}@10": (v if m == "ndcg" else 0.5) for m in METRIC_NAMES} for split, v in (("val", val), ("test", test))}


def _study(sweeps: Path, name: str, values: list[tuple[float, float]]) -> None:
    folder = sweeps / f"loss_{name}"
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name=f"loss_{name}", storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize")
    for number, (val, test) in enumerate(values):
        trial = study.ask({"optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
        study.tell(trial, val)
        (folder / f"trial_{number:04d}").mkdir()
        (folder / f"trial_{number:04d}" / "metrics.json").write_text(json.dumps(_metrics(val, test)))


def test_best_trial_on_val_its_test_and_seed_spread(tmp_path: Path) -> None:
    sweeps, seeds = tmp_path / "sweeps", tmp_path / "seeds"
    _study(sweeps, "bpr", [(0.10, 0.30), (0.12, 0.20), (0.11, 0.25)])  # the best on val is not the best on test
    _study(sweeps, "ease", [(0.13, 0.27)])
    for seed, (val, test) in zip((43, 44), ((0.118, 0.21), (0.122, 0.19))):
        (seeds / "loss_bpr" / f"seed{seed}").mkdir(parents=True)
        (seeds / "loss_bpr" / f"seed{seed}" / "metrics.json").write_text(json.dumps(_metrics(val, test)))
    text = build(sweeps, seeds, tmp_path / "out").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| bpr |") or line.startswith("| ease |")]
    assert rows[0].startswith("| ease | 1 | 0 |") and rows[1].startswith("| bpr | 3 | 1 |")  # sorted by val
    assert "| 0.1200 |" in rows[1] and "| 0.2000 |" in rows[1]  # trial 1's val and test
    assert "| bpr | 0.1200 ± 0.0020 (n=3) | 0.2000 ± 0.0100 (n=3) |" in text
    assert "| ease | 0.1300 (1 seed) | 0.2700 (1 seed) |" in text
    assert (tmp_path / "out" / "loss_study_val_per_trial.png").stat().st_size > 0


def test_sweep_overhead_is_wall_time_not_spent_training(tmp_path: Path) -> None:
    for i, (train, evaluation) in enumerate(((10.0, 1.0), (12.0, 1.0))):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "metrics.json").write_text(json.dumps({"train_seconds": train, "eval_seconds": evaluation}))
    runs = [tmp_path / "0", tmp_path / "1"]
    assert measure("basic", 30.0, runs, 1)["overhead_per_trial_seconds"] == 3.0  # (30 - 24) / 2
    assert measure("joblib", 15.0, runs, 2)["overhead_per_trial_seconds"] == 3.0  # (15 x 2 - 24) / 2
