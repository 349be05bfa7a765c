"""The ask-launch-tell loop of ``hydra/sweeper=recsys_optuna``: Hydra's Optuna sweeper, resumable.

It differs from ``hydra_plugins.hydra_optuna_sweeper`` (whose search-space parsing it reuses) in
what a real tuning workflow needs:

* ``n_trials`` is the size of the *study*, not of one invocation: a sweep killed mid-way and
  started again with the same command runs only the missing trials, and several sweep processes
  (on one machine or several, sharing an RDB storage) finish one study together.
* A trial killed with its process is detected by its stale heartbeat and run again with the
  same parameters (:mod:`recsys.tuning.study`).
* Each trial's job directory is named by its trial number (``trial_0007``), so a resumed or
  concurrent sweep never writes over another trial's run directory.
* When the study is complete: the best trial as ``conf/experiment/<study>_best.yaml``
  (:mod:`recsys.tuning.best_experiment`), Optuna's plots, the trial table and (for two
  objectives) the Pareto front in the sweep folder (:mod:`recsys.tuning.reports`), and a W&B
  summary run (:mod:`recsys.tuning.summary_run`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import optuna
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from omegaconf import DictConfig

from recsys.tuning.best_experiment import search_file_overrides, write_best_experiment
from recsys.tuning.reports import write_reports
from recsys.tuning.study import Heartbeat, count_trials, open_storage
from recsys.tuning.summary_run import log_summary_run

log = logging.getLogger(__name__)

TRIAL_DIR = "trial_{:04d}"


class ResumableOptunaSweeperImpl(OptunaSweeperImpl):
    """See the module docstring. Extra settings (``conf`` of the plugin):

    Args:
        heartbeat_interval: seconds between heartbeats of a running trial.
        grace_period: a running trial silent for longer than this was killed.
        poll_seconds: how often to look again while other processes still run the last trials.
        best_experiment: where to write the best trial's experiment config (``None``: nowhere).
        write_reports: write plots and tables into the sweep folder at the end.
        log_to_wandb: log the sweep's summary as a W&B run of its own (offline unless logged in).
    """

    def __init__(
        self,
        *args: Any,
        heartbeat_interval: int = 10,
        grace_period: int = 30,
        poll_seconds: float = 5.0,
        best_experiment: str | None = None,
        write_reports: bool = True,
        log_to_wandb: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not self.storage:
            raise ValueError("recsys_optuna sweeper: set hydra.sweeper.storage (e.g. sqlite:///${hydra.sweep.dir}/optuna.db)")
        if not self.study_name:
            raise ValueError("recsys_optuna sweeper: set hydra.sweeper.study_name (the study a resumed sweep continues)")
        if self.n_trials < 1 or self.n_jobs < 1:
            raise ValueError(f"recsys_optuna sweeper: n_trials ({self.n_trials}) and n_jobs ({self.n_jobs}) must be >= 1")
        self.heartbeat_interval = int(heartbeat_interval)
        self.grace_period = int(grace_period)
        self.poll_seconds = float(poll_seconds)
        self.best_experiment = best_experiment
        self.write_reports = bool(write_reports)
        self.log_to_wandb = bool(log_to_wandb)

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.launcher is not None
        self._process_searchspace_config()
        params_conf = self._parse_sweeper_params_config() + list(arguments)
        if self.best_experiment and any(a.lstrip("+").startswith("experiment=") for a in arguments):
            raise ValueError(
                "recsys_optuna sweeper: a sweep on top of experiment=... cannot be written as one best experiment; "
                "copy the experiment's settings into the hparams_search file, or set hydra.sweeper.best_experiment=null"
            )
        distributions, fixed_params, fixed_overrides = create_params_from_overrides(params_conf)
        for name in fixed_params:
            distributions.pop(name, None)
        if getattr(self.sampler, "func", None) is optuna.samplers.GridSampler:
            raise ValueError("recsys_optuna sweeper: the grid sampler is not supported; use a grid sweep (`-m a=1,2`)")
        directions = self._get_directions()
        storage = open_storage(str(self.storage), self.heartbeat_interval, self.grace_period)
        study = optuna.create_study(
            study_name=self.study_name, storage=storage, sampler=self.sampler, directions=directions, load_if_exists=True
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        counts = count_trials(study)
        log.info(
            "Study %s in %s: %d of %d trials done (%d failed), %d running elsewhere, %d queued",
            study.study_name, self.storage, counts.finished, self.n_trials, counts.failed, counts.running, counts.waiting,
        )
        while True:
            optuna.storages.fail_stale_trials(study)  # killed trials: failed and queued again
            counts = count_trials(study)
            to_go = self.n_trials - counts.finished - counts.running
            if to_go <= 0:
                if counts.running == 0:
                    break
                time.sleep(self.poll_seconds)  # another process runs the last trials (or they are stale)
                continue
            trials = self._ask(study, min(self.n_jobs, to_go))
            if not trials:
                continue
            overrides = self._configure_trials(trials, distributions, fixed_params, fixed_overrides)
            overrides = [
                (*job, f"hydra.sweep.subdir={TRIAL_DIR.format(trial.number)}") for trial, job in zip(trials, overrides)
            ]
            with Heartbeat(storage, [trial._trial_id for trial in trials]):
                returns = self.launcher.launch(overrides, initial_job_idx=trials[0].number)
            self._tell(study, trials, returns, directions)
        self._finish(study, sweep_dir, directions, fixed_overrides, fixed_params, list(arguments))

    def _ask(self, study: optuna.Study, n: int) -> list:
        """Ask ``n`` trials; give back (prune) any that another process's concurrent ask made
        surplus, so that the study never grows past ``n_trials``."""
        trials = [study.ask() for _ in range(n)]
        counts = count_trials(study)
        surplus = counts.finished + counts.running - self.n_trials
        while surplus > 0 and trials:
            extra = trials.pop()  # the newest of this batch
            extra.set_user_attr("over_budget", True)
            study.tell(extra, state=optuna.trial.TrialState.PRUNED)
            surplus -= 1
        return trials

    def _tell(self, study: optuna.Study, trials: list, returns: list, directions: list[str]) -> None:
        failures = []
        for trial, ret in zip(trials, returns):
            try:
                value = ret.return_value  # raises the job's own exception if it failed
                values = [float(v) for v in (value if len(directions) > 1 else [value])]
                if len(values) != len(directions):
                    raise ValueError(f"the job returned {len(values)} values for {len(directions)} objectives")
                study.tell(trial, values=values)
            except Exception as error:  # noqa: BLE001 - a failed trial is recorded, the sweep goes on
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                log.warning("Trial %d failed: %s", trial.number, error)
                failures.append(error)
        if failures and len(failures) / len(returns) > self.max_failure_rate:
            raise RuntimeError(
                f"{len(failures)} of {len(returns)} trials failed (max_failure_rate={self.max_failure_rate}); "
                f"first error: {failures[0]}"
            ) from failures[0]

    def _finish(
        self,
        study: optuna.Study,
        sweep_dir: Path,
        directions: list[str],
        fixed_overrides: list[str],
        fixed_params: dict,
        arguments: list[str],
    ) -> None:
        complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            raise RuntimeError(f"study {study.study_name}: no trial completed")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if len(directions) == 1:
            best = study.best_trial
            log.info("Best trial %d: value %s, params %s", best.number, best.value, best.params)
            if self.best_experiment:
                loader = self.hydra_context.config_loader
                fixed = search_file_overrides(loader, self.config, arguments)
                fixed += [f"{k}={v}" for k, v in fixed_params.items()] + list(fixed_overrides)
                groups = set(loader.list_groups(""))
                path = write_best_experiment(
                    Path(self.best_experiment), best, fixed, groups, study.study_name, str(self.config.get("optimized_metric"))
                )
                log.info("Best trial written to %s (python train.py experiment=%s)", path, path.stem)
        else:
            log.info("Pareto front: %d trials", len(study.best_trials))
        if self.write_reports:
            for path in write_reports(study, sweep_dir, self.config.get("optimized_metric")):
                log.info("Wrote %s", path)
        if self.log_to_wandb and (self.config.get("logger") or {}).get("wandb"):
            log_summary_run(study, sweep_dir, self.config)
