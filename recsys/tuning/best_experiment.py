"""Write the best trial of a study as an experiment config: ``python train.py experiment=<name>``.

The file holds every override the trial's job ran with (its sampled parameters and the sweep's
fixed overrides) and what the ``hparams_search`` file itself changed outside ``hydra`` (a model
choice such as ``override /model: ease``, ``sweep_objectives``), with config-group choices as
``override /group: option`` in its defaults list and values as nested keys. Composing it gives
the trial's config, and training it reproduces the trial's validation metric (same seed, data).
"""

from __future__ import annotations

from pathlib import Path

import optuna
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from recsys.utils.atomic import write_text_atomic

# Overrides that select the search itself, not the trained configuration.
NOT_REPRODUCED = ("hparams_search", "hydra.")


def _flatten(node, prefix: str = "") -> dict[str, object]:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def search_file_overrides(config_loader, sweep_config: DictConfig, arguments: list[str]) -> list[str]:
    """Overrides equivalent to what the ``hparams_search`` file changed outside ``hydra``.

    Composes the config with the sweep's command-line ``arguments`` minus ``hparams_search=...``
    and compares it with the sweep's own config: group choices (``hydra.runtime.choices``) and
    plain values (unresolved, so interpolations such as run paths compare equal) that differ.
    """
    parser = OverridesParser.create()
    base_arguments = [  # search-space arguments (sweep syntax) are the trial's parameters, not settings
        a for a in arguments if not a.lstrip("+").startswith("hparams_search=") and not parser.parse_override(a).is_sweep_override()
    ]
    base = config_loader.load_configuration(config_name=sweep_config.hydra.job.config_name, overrides=base_arguments, run_mode=RunMode.RUN)
    overrides = []
    base_choices = base.hydra.runtime.choices
    for group, option in sweep_config.hydra.runtime.choices.items():
        if group.startswith("hydra/") or group in ("hparams_search", "experiment") or option is None:
            continue
        if base_choices.get(group) != option:
            overrides.append(f"{group.split('@')[0]}={option}")
    changed = {g.split("@")[0] for g in (o.partition("=")[0] for o in overrides)}

    def values(cfg: DictConfig) -> dict[str, object]:
        plain = OmegaConf.to_container(cfg, resolve=False)
        plain.pop("hydra", None)
        return _flatten(plain)

    base_values, sweep_values = values(base), values(sweep_config)
    for key, value in sweep_values.items():
        if any(key == g or key.startswith(g + ".") for g in changed):
            continue  # part of a group the choice above already selects
        if key not in base_values or base_values[key] != value:
            rendered = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
            overrides.append(f"{'' if key in base_values else '+'}{key}={rendered}")
    return overrides


def trial_overrides(trial: optuna.trial.FrozenTrial, fixed_overrides: list[str]) -> list[str]:
    """The overrides the trial's job ran with, minus the ones that select the search."""
    overrides = [f"{name}={value}" for name, value in trial.params.items()] + list(fixed_overrides)
    return [o for o in overrides if not o.lstrip("+~").startswith(NOT_REPRODUCED)]


def experiment_yaml(overrides: list[str], groups: set[str], header: str) -> str:
    """An ``@package _global_`` experiment config equivalent to the command-line ``overrides``.

    Args:
        overrides: ``key=value`` strings (``+key=value`` adds a key, as on the command line).
        groups: top-level config group names (``loss``, ``optimizer``, ...); a key naming one,
            or a nested group path (``data/split``), is a group choice.
        header: comment lines written at the top.
    """
    defaults: list[str] = []
    values: list[str] = []
    for override in overrides:
        if override.startswith("~"):
            raise ValueError(f"cannot write the deletion {override!r} into an experiment")
        key, sep, value = override.partition("=")
        if not sep:
            raise ValueError(f"cannot write override {override!r} into an experiment (expected key=value)")
        key = key.lstrip("+")
        if "/" in key or key in groups:
            defaults.append(f"  - override /{key}: {value}")
        else:
            values.append(f"{key}={value}")
    body = OmegaConf.to_yaml(OmegaConf.from_dotlist(values)) if values else ""
    lines = ["# @package _global_", *(f"# {line}" if line else "#" for line in header.splitlines())]
    if defaults:
        lines += ["defaults:", *defaults]
    return "\n".join(lines) + "\n" + body


def write_best_experiment(
    path: Path,
    trial: optuna.trial.FrozenTrial,
    fixed_overrides: list[str],
    groups: set[str],
    study_name: str,
    optimized_metric: str,
) -> Path:
    """Write ``trial`` as an experiment config at ``path`` (atomically); returns the path."""
    overrides = trial_overrides(trial, fixed_overrides)
    header = (
        f"Best trial ({trial.number}) of the Optuna study {study_name!r}: {optimized_metric} = {trial.value}.\n"
        f"Written by the recsys_optuna sweeper; reproduce it with: python train.py experiment={path.stem}\n"
        f"Overrides: {' '.join(overrides)}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, experiment_yaml(overrides, groups, header))
    return path
