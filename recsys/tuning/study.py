"""An Optuna study that survives kills and is shared by several sweep processes.

A trial that was running when its sweep process died keeps the ``RUNNING`` state forever in
the storage. Each running trial therefore records a heartbeat (:class:`Heartbeat`), and a trial
whose heartbeat is older than the grace period is failed and put back in the queue with the same
parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``), so a restarted sweep runs it again
and :func:`count_trials` does not count the killed attempt.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

# heartbeats and retries are "experimental" in Optuna (since 2.9 / 3.0); their use here is deliberate
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def sqlite_path(storage_url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (``None`` for other URLs and in-memory SQLite)."""
    prefix = "sqlite:///"
    if not storage_url.startswith(prefix) or storage_url == prefix + ":memory:":
        return None
    return Path(storage_url[len(prefix):])


def open_storage(storage_url: str, heartbeat_interval: int, grace_period: int) -> RDBStorage:
    """An RDB storage (SQLite file, PostgreSQL, MySQL) with heartbeats and retry of stale trials.

    Args:
        storage_url: SQLAlchemy URL, e.g. ``sqlite:////abs/sweep/optuna.db`` or
            ``postgresql+psycopg2://user:password@host/db`` for sweeps on several machines.
        heartbeat_interval: seconds between two heartbeats of a running trial.
        grace_period: a running trial whose last heartbeat is older than this is stale.
    """
    if heartbeat_interval <= 0 or grace_period <= heartbeat_interval:
        raise ValueError(
            f"heartbeat_interval ({heartbeat_interval}) must be > 0 and grace_period ({grace_period}) "
            "larger than it (a live trial must never look stale)"
        )
    path = sqlite_path(storage_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    attempts = 5
    for attempt in range(1, attempts + 1):
        try:
            return RDBStorage(
                url=storage_url,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                # SQLite: wait for another sweep process's write lock instead of failing at once
                engine_kwargs={"connect_args": {"timeout": 60}} if path is not None else None,
            )
        except (SQLAlchemyError, RuntimeError):
            # Two processes opening a new database at once race on creating its tables and its
            # version row (one sees the other's tables without the row); the second look succeeds.
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class TrialCounts:
    """Trials of a study by what they mean for the budget ``n_trials``."""

    complete: int
    failed: int  # failed by their own error (a killed trial that was retried is not counted)
    running: int
    waiting: int  # queued: retries of killed trials, enqueued configurations
    # (pruned trials, asked by two processes at once past n_trials and given back, count nowhere)

    @property
    def finished(self) -> int:
        return self.complete + self.failed


def retried_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of the trials that were stale (killed) and have been queued again."""
    numbers: set[int] = set()
    for trial in trials:
        numbers.update(RetryHeartbeatStaleTrialCallback.retry_history(trial))
    return numbers


def count_trials(study: optuna.Study) -> TrialCounts:
    """Count the study's trials; killed attempts that were queued again are not counted."""
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    by_state = {state: 0 for state in TrialState}
    for trial in trials:
        if trial.state == TrialState.FAIL and trial.number in retried:
            continue
        by_state[trial.state] += 1
    return TrialCounts(
        complete=by_state[TrialState.COMPLETE],
        failed=by_state[TrialState.FAIL],
        running=by_state[TrialState.RUNNING],
        waiting=by_state[TrialState.WAITING],
    )


class Heartbeat:
    """Records a heartbeat for each given trial every ``storage.heartbeat_interval`` seconds.

    Use as a context manager around the launch of a batch of trials: the trials stay fresh in the
    storage while they run in this process (or in the launcher's workers), and become stale within
    the grace period once this process dies.
    """

    def __init__(self, storage: RDBStorage, trial_ids: list[int]) -> None:
        self.storage = storage
        self.trial_ids = list(trial_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="optuna-heartbeat", daemon=True)

    def _beat(self) -> None:
        interval = float(self.storage.get_heartbeat_interval() or 1)
        while True:
            for trial_id in self.trial_ids:
                self.storage.record_heartbeat(trial_id)
            if self._stop.wait(interval):
                return

    def __enter__(self) -> "Heartbeat":
        for trial_id in self.trial_ids:  # fresh before the first interval passes
            self.storage.record_heartbeat(trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
