"""Hydra plugin ``hydra/sweeper=recsys_optuna``: the Optuna sweeper, resumable and shareable.

Hydra loads sweepers only from the ``hydra_plugins`` namespace; the logic lives in
:mod:`recsys.tuning.sweeper`. The settings are those of ``hydra/sweeper=optuna``
(``hydra-optuna-sweeper``) plus the ones of :class:`RecsysOptunaSweeperConf` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
from omegaconf import DictConfig


@dataclass
class RecsysOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.recsys_optuna_sweeper.recsys_optuna_sweeper.RecsysOptunaSweeper"
    n_jobs: int = 1
    heartbeat_interval: int = 10
    grace_period: int = 30
    poll_seconds: float = 5.0
    best_experiment: Any = None
    write_reports: bool = True
    log_to_wandb: bool = True


ConfigStore.instance().store(group="hydra/sweeper", name="recsys_optuna", node=RecsysOptunaSweeperConf, provider="recsys")


class RecsysOptunaSweeper(Sweeper):
    """Builds the sampler and hands everything to :class:`recsys.tuning.sweeper.ResumableOptunaSweeperImpl`."""

    def __init__(self, sampler: Any, **settings: Any) -> None:
        from recsys.tuning.sweeper import ResumableOptunaSweeperImpl

        sampler = instantiate(sampler, _execution_whitelist_=("hydra_plugins.hydra_optuna_sweeper.*", "optuna.samplers.*"))
        names = ("direction", "storage", "study_name", "n_trials", "n_jobs", "max_failure_rate", "custom_search_space", "params")
        positional = [settings.pop(name) for name in names]
        self.sweeper = ResumableOptunaSweeperImpl(sampler, *positional, **settings)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        return self.sweeper.sweep(arguments)
