"""Tables and plots of a study, written into its sweep folder.

``trials.md`` (every trial: state, values, parameters, duration), ``optimization_history.png``,
``param_importances.png`` (fANOVA; needs two or more completed trials that vary) and, for two
objectives, ``pareto_front.md`` and ``pareto_front.png``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from recsys.utils.atomic import write_text_atomic  # noqa: E402

log = logging.getLogger(__name__)
# the plotting functions are "experimental" in Optuna since 2.2; their use here is deliberate
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def objective_names(study: optuna.Study, optimized_metric) -> list[str]:
    """Names of the objectives: the configured metric(s), else ``objective 0..n``."""
    if optimized_metric is None or isinstance(optimized_metric, str):
        names = [optimized_metric]
    else:  # a list (ListConfig) of metrics, one per objective
        names = list(optimized_metric)
    if len(names) != len(study.directions) or any(n is None for n in names):
        return [f"objective {i}" for i in range(len(study.directions))]
    return [str(n) for n in names]


def _format(value, digits: str = ".4f") -> str:
    return f"{value:{digits}}" if isinstance(value, float) else str(value)


def trials_table(study: optuna.Study, names: list[str], trials: list[optuna.trial.FrozenTrial] | None = None) -> str:
    """A markdown table of ``trials`` (default: all of the study's), one row per trial."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    params = sorted({name for trial in trials for name in trial.params})
    header = ["trial", "state", *names, *params, "seconds"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for trial in trials:
        values = trial.values if trial.values is not None else [None] * len(names)
        seconds = trial.duration.total_seconds() if trial.duration is not None else None
        cells = [
            str(trial.number),
            trial.state.name.lower(),
            *("-" if v is None else _format(v) for v in values),
            *(_format(trial.params[p], ".4g") if p in trial.params else "-" for p in params),  # lr 1e-4 stays readable
            "-" if seconds is None else f"{seconds:.1f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _write(path: Path, text: str) -> Path:
    write_text_atomic(path, text)
    return path


def _save(axes, path: Path) -> Path:
    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=120)
    plt.close(figure)
    tmp.replace(path)
    return path


def write_reports(study: optuna.Study, sweep_dir: Path, optimized_metric) -> list[Path]:
    """Write the tables and plots of ``study`` into ``sweep_dir``; returns the paths written."""
    from optuna.visualization import matplotlib as optuna_plots

    names = objective_names(study, optimized_metric)
    written = [_write(sweep_dir / "trials.md", f"# Trials of study {study.study_name}\n\n" + trials_table(study, names))]
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(names) == 1:
        written.append(_save(optuna_plots.plot_optimization_history(study, target_name=names[0]), sweep_dir / "optimization_history.png"))
    else:
        front = sorted(study.best_trials, key=lambda t: t.number)
        written.append(
            _write(
                sweep_dir / "pareto_front.md",
                f"# Pareto front of study {study.study_name} ({len(front)} of {len(complete)} completed trials)\n\n"
                + trials_table(study, names, front),
            )
        )
        written.append(_save(optuna_plots.plot_pareto_front(study, target_names=names), sweep_dir / "pareto_front.png"))
    varying = {name for t in complete for name in t.params if len({c.params.get(name) for c in complete}) > 1}
    if len(complete) >= 2 and varying:
        for index, name in enumerate(names):
            try:
                axes = optuna_plots.plot_param_importances(
                    study,
                    evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                    target=(lambda t, i=index: t.values[i]),
                    target_name=name,
                )
            except Exception as error:  # noqa: BLE001 - a plot must not lose the sweep's results
                log.warning("parameter importances for %s not plotted: %s", name, error)
                continue
            suffix = "" if len(names) == 1 else f"_{index}"
            written.append(_save(axes, sweep_dir / f"param_importances{suffix}.png"))
    return written
