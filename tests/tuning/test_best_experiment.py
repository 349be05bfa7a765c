"""The best trial written as an experiment config composes to the trial's settings."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from recsys.tuning.best_experiment import experiment_yaml, trial_overrides
from recsys.utils.compose import compose_config

GROUPS = {"loss", "model", "optimizer", "data", "logger", "trainer"}


def test_group_choices_become_defaults_and_values_nested_keys() -> None:
    text = experiment_yaml(
        ["loss=bpr", "data/split=temporal_user", "optimizer.lr=0.00123", "+extra.key=[1, 2]", "trainer.max_epochs=2"],
        GROUPS,
        "header line",
    )
    assert text.startswith("# @package _global_\n# header line\n")
    body = OmegaConf.create(text)
    assert list(body.defaults) == [{"override /loss": "bpr"}, {"override /data/split": "temporal_user"}]
    assert body.optimizer.lr == 0.00123 and body.trainer.max_epochs == 2 and list(body.extra.key) == [1, 2]


def test_deletions_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="deletion"):
        experiment_yaml(["~callbacks.ema"], GROUPS, "h")


def test_search_selection_and_hydra_overrides_are_dropped() -> None:
    trial = optuna.trial.create_trial(
        params={"optimizer.lr": 0.01},
        distributions={"optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
        value=0.1,
    )
    assert trial_overrides(trial, ["hparams_search=two_tower_optuna", "hydra.verbose=true", "loss=bpr"]) == [
        "optimizer.lr=0.01",
        "loss=bpr",
    ]


def test_written_experiment_composes_like_the_overrides(tmp_path: Path) -> None:
    overrides = ["loss=bpr", "optimizer.lr=0.00123", "batch_size=512", "model=two_tower"]
    folder = tmp_path / "conf" / "experiment"
    folder.mkdir(parents=True)
    (folder / "probe_best.yaml").write_text(experiment_yaml(overrides, GROUPS, "probe"))
    from_experiment = compose_config("train", ["experiment=probe_best", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"])
    from_overrides = compose_config("train", overrides)
    for key in ("loss", "optimizer", "batch_size", "model"):
        assert from_experiment[key] == from_overrides[key]
