"""The study behind the recsys_optuna sweeper: heartbeats, stale (killed) trials, counting."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from recsys.tuning.study import Heartbeat, count_trials, open_storage, sqlite_path


def _study(tmp_path: Path, heartbeat: int = 1, grace: int = 2) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    storage = open_storage(f"sqlite:///{tmp_path}/sub/optuna.db", heartbeat, grace)
    return optuna.create_study(study_name="s", storage=storage, direction="maximize", load_if_exists=True), storage


def test_sqlite_path_and_folder_creation(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/a/b.db") == tmp_path / "a" / "b.db"
    assert sqlite_path("postgresql://u:p@host/db") is None
    _study(tmp_path)
    assert (tmp_path / "sub" / "optuna.db").exists()


def test_grace_period_must_exceed_heartbeat(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="grace_period"):
        open_storage(f"sqlite:///{tmp_path}/x.db", heartbeat_interval=5, grace_period=5)


def test_a_killed_trial_is_failed_queued_again_and_not_counted(tmp_path: Path) -> None:
    study, storage = _study(tmp_path)
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 0.5)
    killed = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    storage.record_heartbeat(killed._trial_id)  # then its process "dies": no more heartbeats
    assert count_trials(study).running == 1
    time.sleep(3.2)
    optuna.storages.fail_stale_trials(study)
    counts = count_trials(study)
    assert (counts.complete, counts.failed, counts.running, counts.waiting) == (1, 0, 0, 1)
    retry = study.ask()  # the queued retry comes first, with the killed trial's parameters
    assert retry.params == {"x": killed.params["x"]}
    assert study.trials[killed.number].state == TrialState.FAIL


def test_a_live_trial_with_heartbeats_is_not_stale(tmp_path: Path) -> None:
    study, storage = _study(tmp_path)
    trial = study.ask()
    with Heartbeat(storage, [trial._trial_id]):
        time.sleep(3.2)  # longer than the grace period: only the heartbeats keep it alive
        optuna.storages.fail_stale_trials(study)
        assert count_trials(study).running == 1
    study.tell(trial, 1.0)
    assert count_trials(study).complete == 1


def test_a_trial_failed_by_its_own_error_counts(tmp_path: Path) -> None:
    study, _ = _study(tmp_path)
    study.tell(study.ask(), state=TrialState.FAIL)
    counts = count_trials(study)
    assert (counts.failed, counts.finished, counts.waiting) == (1, 1, 0)


def _open_new_study(url: str, barrier_time: float) -> int:
    time.sleep(max(0.0, barrier_time - time.time()))  # all processes open the new file at once
    storage = open_storage(url, 1, 2)
    optuna.create_study(study_name="s", storage=storage, direction="maximize", load_if_exists=True)
    return len(optuna.get_all_study_summaries(storage))


def test_processes_opening_one_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Sweep processes started together race on creating the tables and the version row."""
    import multiprocessing

    url = f"sqlite:///{tmp_path}/new/optuna.db"
    context = multiprocessing.get_context("spawn")
    with context.Pool(6) as pool:
        start = time.time() + 3.0
        counts = pool.starmap(_open_new_study, [(url, start)] * 6)
    assert counts == [1] * 6  # every process opened the storage and sees the one study
