"""Optuna sweeps through ``python train.py -m hparams_search=...``, run as a user runs them.

Each test starts real sweep processes on the bundled data (tiny trials: one or two epochs), with
the study in SQLite under a temporary sweep folder, and checks the study, the trial folders, the
best experiment, the reports and the offline W&B runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import recsys
from recsys.utils.wandb_offline import read_offline_run

pytestmark = pytest.mark.slow

ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def sweep_command(tmp_path: Path, processed_root: Path, *extra: str, search: str = "two_tower_optuna") -> list[str]:
    best = tmp_path / "conf" / "experiment" / "t_best.yaml"
    return [
        sys.executable, "train.py", "-m", f"hparams_search={search}",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "batch_size=2048",
        f"data.processed_root={processed_root}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra.sweeper.study_name=t",
        *([f"hydra.sweeper.best_experiment={best}"] if search != "two_tower_pareto" else []),
        "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3", "hydra.sweeper.poll_seconds=1",
        *extra,
    ]  # fmt: skip


def run(command: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=recsys.REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")


def states(s: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for trial in s.trials:
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def test_sweep_writes_study_trials_best_experiment_reports_and_wandb(tmp_path: Path, bundled_dataset, processed_root: Path) -> None:
    run(sweep_command(tmp_path, processed_root, "hydra.sweeper.n_trials=3", "trainer.max_epochs=2"))
    s = study(tmp_path)
    assert states(s) == {"COMPLETE": 3}
    sweep = tmp_path / "sweep"
    for trial in s.trials:
        import json

        metrics = json.loads((sweep / f"trial_{trial.number:04d}" / "metrics.json").read_text())
        assert metrics["val"]["ndcg@10"] == trial.value  # the sweeper optimises the run's val metric
        log_text = (sweep / f"trial_{trial.number:04d}" / "train.log").read_text()
        assert "processing ml_latest_small" not in log_text  # a trial reads the processed cache
        wandb_runs = list((sweep / f"trial_{trial.number:04d}" / "wandb").glob("offline-run-*"))
        assert len(wandb_runs) == 1
        offline = read_offline_run(wandb_runs[0])
        assert offline.group == "t" and offline.name == f"trial_{trial.number:04d}"
        assert offline.config["optimizer"]["lr"] == trial.params["optimizer.lr"]
        assert offline.summary["final/val/ndcg@10"] == metrics["val"]["ndcg@10"]
        assert offline.summary["final/test/ndcg@10"] == metrics["test"]["ndcg@10"]
        assert "val/ndcg@10" in offline.history_keys  # the per-epoch curves
        model = [a for a in offline.artifacts if a["type"] == "model"]
        assert len(model) == 1 and "best" in model[0]["aliases"]
        assert {"item_embeddings.npy", "metrics.json"} <= set(model[0]["files"])
        assert any(f.startswith("checkpoints/") for f in model[0]["files"])
        assert {"test_by_activity", "val_top10", "item_embeddings_pca", "ndcg_vs_coverage_plot"} <= {
            k.split("/")[0] for k in offline.history_keys
        }
    for name in ("trials.md", "optimization_history.png", "param_importances.png"):
        assert (sweep / name).stat().st_size > 0, name
    summary = [read_offline_run(p) for p in (sweep / "wandb").glob("offline-run-*")]
    assert len(summary) == 1 and summary[0].group == "t" and summary[0].summary["best_trial"] == s.best_trial.number

    # the best trial, written as an experiment, reproduces the trial's val metric exactly
    experiment = tmp_path / "conf" / "experiment" / "t_best.yaml"
    assert f"= {s.best_value}" in experiment.read_text()
    repro = tmp_path / "repro"
    run([
        sys.executable, "train.py", "experiment=t_best", f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"hydra.run.dir={repro}", "logger=none",
    ])  # fmt: skip
    import json

    assert json.loads((repro / "metrics.json").read_text())["val"]["ndcg@10"] == s.best_value


def trial_states_read_only(db: Path) -> dict[str, int]:
    """Trial counts by state, read from the SQLite file without creating or locking anything.

    (``optuna.load_study`` would create the schema of a database that the sweep process is
    creating at that moment, and race with it.)"""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
            rows = connection.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall()
    except sqlite3.Error:  # the sweep has not created its tables yet
        return {}
    return {str(state): count for state, count in rows}


def test_killed_sweep_resumes_the_same_study(tmp_path: Path, bundled_dataset, processed_root: Path) -> None:
    command = sweep_command(tmp_path, processed_root, "hydra.sweeper.n_trials=4")
    first_log = tmp_path / "first_sweep.log"
    with first_log.open("w") as log_file:
        first = subprocess.Popen(command, cwd=recsys.REPO_ROOT, env=ENV, stdout=log_file, stderr=subprocess.STDOUT)
    db = tmp_path / "sweep" / "optuna.db"
    deadline = time.time() + 600
    progress = trial_states_read_only(db)
    while not (progress.get("COMPLETE") == 2 and progress.get("RUNNING") == 1) and time.time() < deadline and first.poll() is None:
        time.sleep(0.5)
        progress = trial_states_read_only(db)
    assert progress.get("COMPLETE") == 2, f"the first two trials did not finish: {progress}\n{first_log.read_text()[-3000:]}"
    time.sleep(2)  # into the third trial
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = states(study(tmp_path))
    assert before == {"COMPLETE": 2, "RUNNING": 1}, first_log.read_text()[-3000:]  # killed in the middle of the third trial
    finished_mtimes = {n: (tmp_path / "sweep" / f"trial_{n:04d}" / "metrics.json").stat().st_mtime for n in (0, 1)}

    run(command)  # the same command again
    s = study(tmp_path)
    after = states(s)
    assert after["COMPLETE"] == 4  # the budget covers both runs
    assert after.get("FAIL", 0) == 1  # the killed trial, failed ...
    for trial in s.trials:
        if trial.state == TrialState.FAIL:  # ... and run again with its parameters
            assert any(t.state == TrialState.COMPLETE and t.params == trial.params for t in s.trials if t.number > trial.number)
    for n, mtime in finished_mtimes.items():  # completed trials were not re-run
        assert (tmp_path / "sweep" / f"trial_{n:04d}" / "metrics.json").stat().st_mtime == mtime


def test_two_processes_finish_one_study_together(tmp_path: Path, bundled_dataset, processed_root: Path) -> None:
    command = sweep_command(tmp_path, processed_root, "hydra.sweeper.n_trials=4", "logger=none")
    first = subprocess.Popen(command, cwd=recsys.REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(5)  # the first process creates the study
    second = subprocess.Popen(command, cwd=recsys.REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    s = study(tmp_path)
    complete = [t for t in s.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in s.trials)
    trial_dirs = sorted(p.name for p in (tmp_path / "sweep").glob("trial_*") if (p / "metrics.json").exists())
    assert trial_dirs == sorted(f"trial_{t.number:04d}" for t in complete)  # each trial ran once, in its own folder
    launched = [out.count("Launching 1 jobs locally") for out in outputs]
    assert sum(launched) == 4 and min(launched) >= 1  # both took part; surplus asks were given back unlaunched


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_launchers(tmp_path: Path, bundled_dataset, processed_root: Path, launcher: str) -> None:
    extra = ["hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "logger=none", f"hydra/launcher={launcher}"]
    if launcher == "joblib":
        extra.append("hydra.launcher.n_jobs=2")
    else:
        extra += ["hydra.launcher.timeout_min=20", "hydra.launcher.cpus_per_task=1"]
    run(sweep_command(tmp_path, processed_root, *extra))
    s = study(tmp_path)
    assert states(s) == {"COMPLETE": 2}
    for trial in s.trials:
        assert (tmp_path / "sweep" / f"trial_{trial.number:04d}" / "metrics.json").exists()


def test_pareto_sweep_writes_its_front(tmp_path: Path, bundled_dataset, processed_root: Path) -> None:
    run(sweep_command(tmp_path, processed_root, "hydra.sweeper.n_trials=3", "logger=none", search="two_tower_pareto"))
    s = study(tmp_path)
    assert states(s) == {"COMPLETE": 3} and len(s.directions) == 2
    front = (tmp_path / "sweep" / "pareto_front.md").read_text()
    for trial in s.best_trials:
        assert f"| {trial.number} | complete | {trial.values[0]:.4f} | {trial.values[1]:.4f} |" in front
    assert (tmp_path / "sweep" / "pareto_front.png").stat().st_size > 0
    assert not (tmp_path / "conf" / "experiment" / "t_best.yaml").exists()  # a front has no single best
