"""Logger factories that never fail a run."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def wandb_mode() -> str:
    """``online`` when the user is logged in (an API key is configured), else ``offline``.

    ``WANDB_MODE`` set by the user always wins.
    """
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = os.path.expanduser("~/.netrc")
    if os.path.exists(netrc):
        with open(netrc) as handle:
            if "api.wandb.ai" in handle.read():
                return "online"
    return "offline"


def sweep_group_and_name() -> tuple[str | None, str | None]:
    """(group, name) of a run inside a Hydra multirun: the study (or sweep folder) and the job's
    subfolder (``trial_0007``); ``(None, None)`` outside one."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return None, None
    study = (hydra.sweeper or {}).get("study_name")  # the Optuna sweepers name their study
    return str(study or os.path.basename(str(hydra.sweep.dir))), str(hydra.sweep.subdir)


def make_wandb_logger(
    project: str,
    save_dir: str,
    name: str | None = None,
    tags: list[str] | None = None,
    group: str | None = None,
    **kwargs: Any,
):
    """A Lightning ``WandbLogger``, offline unless logged in; ``None`` if wandb cannot start.

    In a Hydra sweep, ``group`` defaults to the study name and ``name`` to the trial's folder.
    A tracking problem must never fail a training run, so any error becomes a warning.
    """
    try:
        from pytorch_lightning.loggers import WandbLogger

        sweep_group, trial = sweep_group_and_name()
        os.makedirs(save_dir, exist_ok=True)
        return WandbLogger(
            project=project,
            save_dir=save_dir,
            name=name or trial,
            group=group or sweep_group,
            tags=tags or [],
            mode=wandb_mode(),
            **kwargs,
        )
    except Exception as error:  # noqa: BLE001 - tracking must never fail a run
        log.warning("W&B logger disabled: %s", error)
        return None
