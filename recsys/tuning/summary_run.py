"""Log a finished sweep's summary to W&B as a run of its own (group = the study name).

The run holds the trial table, the best trial (or the Pareto front) and the sweep's plots. Like
every W&B call in this framework it is offline unless the user is logged in, and it never fails
the sweep: a tracking error becomes a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from omegaconf import DictConfig
from optuna.trial import TrialState

from recsys.tuning.reports import objective_names
from recsys.utils.loggers import wandb_mode

log = logging.getLogger(__name__)


def trials_rows(study: optuna.Study, names: list[str]) -> tuple[list[str], list[list]]:
    """Columns and rows of the completed trials, for a ``wandb.Table``."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    params = sorted({p for t in trials for p in t.params})
    columns = ["trial", *names, *params]
    rows = [[t.number, *t.values, *(str(t.params.get(p, "")) for p in params)] for t in trials]
    return columns, rows


def log_summary_run(study: optuna.Study, sweep_dir: Path, config: DictConfig) -> str | None:
    """Log the summary run into the project of ``config.logger.wandb``; returns the run's local
    directory, or ``None`` if W&B is unavailable."""
    try:
        import wandb

        names = objective_names(study, config.get("optimized_metric"))
        project = config.logger.wandb.get("project", "recsys")
        run = wandb.init(
            project=project,
            group=study.study_name,
            job_type="sweep-summary",
            name=f"{study.study_name}-summary",
            dir=str(sweep_dir),
            mode=wandb_mode(),
            config={"study": study.study_name, "directions": [d.name for d in study.directions], "sweep_dir": str(sweep_dir)},
            reinit="create_new",
        )
        columns, rows = trials_rows(study, names)
        run.log({"trials": wandb.Table(columns=columns, data=rows)})
        if len(names) == 1:
            best = study.best_trial
            run.summary.update({"best_trial": best.number, f"best/{names[0]}": best.value, **{f"best/{k}": v for k, v in best.params.items()}})
        else:
            front = {t.number for t in study.best_trials}
            run.log({"pareto_front": wandb.Table(columns=columns, data=[r for r in rows if r[0] in front])})
            run.summary["pareto_trials"] = sorted(front)
        for png in sorted(sweep_dir.glob("*.png")):
            run.log({png.stem: wandb.Image(str(png))})
        run.summary["n_complete"] = len(rows)
        directory = run.dir
        run.finish()
        return directory
    except Exception as error:  # noqa: BLE001 - tracking must never fail a sweep
        log.warning("W&B summary run not logged: %s", error)
        return None
