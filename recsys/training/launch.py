"""Checks for runs whose processes were started by ``torchrun`` or SLURM's ``srun`` (one per rank).

Lightning's own launcher (``python train.py trainer=ddp``) starts the other ranks itself and hands
them the first rank's Hydra run directory. ``torchrun`` and ``srun`` start every rank as an
independent ``train.py``, so each would resolve its own timestamped run directory, and the trainer
must match the launcher's process count and create no processes of its own. :func:`check_launch`
refuses these mistakes before any data is read, with the fix, instead of a hang or a Lightning
error after data preparation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from recsys.training.build import ConfigError

# strategies that start their processes themselves (cannot run inside torchrun / srun ranks)
SPAWNING_STRATEGIES = ("ddp_spawn", "ddp_fork", "ddp_notebook")
# overrides that give every rank the same run directory
SHARED_RUN_DIR_KEYS = ("hydra.run.dir", "paths.output_dir")


@dataclass(frozen=True)
class ExternalLaunch:
    """The processes an outside launcher started.

    Attributes:
        launcher: ``"torchrun"`` or ``"srun"``.
        world_size: processes over all nodes.
        num_nodes: nodes.
    """

    launcher: str
    world_size: int
    num_nodes: int


def external_launch(env: Mapping[str, str]) -> ExternalLaunch | None:
    """The launch described by ``env`` when ``torchrun`` or ``srun`` started this process, else None.

    Same precedence as Lightning: TorchElastic (``torchrun``, also inside SLURM), then SLURM
    (``SLURM_NTASKS`` set outside an interactive ``bash`` / ``interactive`` job).
    """
    if env.get("TORCHELASTIC_RUN_ID") is not None:
        world = int(env.get("WORLD_SIZE", "1"))
        return ExternalLaunch("torchrun", world, max(1, world // max(1, int(env.get("LOCAL_WORLD_SIZE", world)))))
    if "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        return ExternalLaunch("srun", int(env["SLURM_NTASKS"]), int(env.get("SLURM_NNODES", "1")))
    return None


def _devices(trainer_cfg: DictConfig) -> int | None:
    """Processes per node the trainer asks for (None: resolved by Lightning, e.g. -1 or 'auto')."""
    devices = trainer_cfg.get("devices")
    if OmegaConf.is_list(devices):
        return len(devices)
    return devices if isinstance(devices, int) and devices > 0 else None


def check_launch(
    cfg: DictConfig,
    env: Mapping[str, str],
    hydra_overrides: Sequence[str] | None,
    task_overrides: Sequence[str] = (),
    neural: bool = True,
) -> None:
    """Refuse a ``torchrun`` / ``srun`` launch of several ranks that cannot work.

    Args:
        cfg: the composed ``conf/train.yaml`` (``trainer`` subtree read).
        env: the process environment (``os.environ``).
        hydra_overrides: the ``hydra.*`` command-line overrides of the running ``@hydra.main`` job
            (None outside one: the run directory is then the caller's).
        task_overrides: the other command-line overrides.
        neural: whether the model is trained by Lightning (a baseline runs in one process).

    Raises:
        ConfigError: with the fix.
    """
    launch = external_launch(env)
    if launch is None or launch.world_size <= 1:
        return
    started = f"{launch.launcher} started {launch.world_size} processes on {launch.num_nodes} node(s)"
    if not neural:
        raise ConfigError(f"{started}, but {cfg.model.get('_target_')} is fitted by one process; run it without {launch.launcher}")
    trainer = cfg.trainer
    strategy = str(trainer.get("strategy", "auto"))
    if strategy in SPAWNING_STRATEGIES:
        raise ConfigError(f"{started}; trainer.strategy={strategy} would start processes of its own. "
                          f"Use trainer=ddp_cpu (CPU) or trainer=ddp (GPU), whose strategy is ddp")
    devices, num_nodes = _devices(trainer), trainer.get("num_nodes", 1)
    if num_nodes != launch.num_nodes or (devices is not None and devices * num_nodes != launch.world_size):
        per_node = launch.world_size // launch.num_nodes
        raise ConfigError(f"{started}, but trainer.devices={trainer.get('devices')!r} trainer.num_nodes={num_nodes!r}; "
                          f"set trainer.devices={per_node} trainer.num_nodes={launch.num_nodes} "
                          f"(with trainer=ddp_cpu or trainer=ddp)")
    pinned = [o for o in [*(hydra_overrides or []), *task_overrides] if o.split("=", 1)[0].lstrip("+") in SHARED_RUN_DIR_KEYS]
    if hydra_overrides is not None and not pinned:
        raise ConfigError(f"{started}: each would write to its own timestamped run directory. Give them one, "
                          f"e.g. hydra.run.dir=outputs/train/ddp-$SLURM_JOB_ID (srun) or hydra.run.dir=outputs/train/ddp-<name> (torchrun)")


def hydra_overrides() -> list[str] | None:
    """The ``hydra.*`` command-line overrides of the running ``@hydra.main`` job (None outside one)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.hydra) if HydraConfig.initialized() else None



def leave_process_group() -> None:
    """End this process's part in the DDP process group once ``fit`` is over (every rank calls it).

    After a DDP fit only rank 0 evaluates, on a single-device trainer; the other ranks return. Left
    open, the group makes that trainer's collectives (Lightning's barrier around ``prepare_data``)
    wait forever for ranks that have exited. A no-op when no group is open (one process, or the
    parent process of ``ddp_spawn``).
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
