"""A torchrun / srun launch that cannot work is refused before any data is read, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.training.build import ConfigError
from recsys.training.launch import ExternalLaunch, check_launch, external_launch
from tests.compose import compose_train

TORCHRUN = {"TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
SRUN = {"SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NAME": "train"}
PINNED = ["hydra.run.dir=/shared/run"]


def test_launchers_are_read_from_the_environment() -> None:
    assert external_launch({}) is None
    assert external_launch(TORCHRUN) == ExternalLaunch("torchrun", 4, 2)
    assert external_launch(SRUN) == ExternalLaunch("srun", 8, 2)
    assert external_launch({**SRUN, "SLURM_JOB_NAME": "interactive"}) is None  # Lightning's interactive mode
    assert external_launch({**SRUN, **TORCHRUN}).launcher == "torchrun"  # torchrun inside SLURM, as Lightning


@pytest.mark.parametrize(("env", "overrides"), [
    (TORCHRUN, ["trainer=ddp_cpu", "trainer.num_nodes=2"]),
    (SRUN, ["trainer=ddp_cpu", "trainer.devices=4", "trainer.num_nodes=2"]),
    ({"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}, []),  # one process: nothing to check
])
def test_matching_launch_passes(env: dict, overrides: list[str], tmp_path: Path, processed_root: Path) -> None:
    check_launch(compose_train(tmp_path, processed_root, overrides), env, PINNED)


@pytest.mark.parametrize(("env", "overrides", "hydra", "message"), [
    (TORCHRUN, ["trainer=ddp_sim", "trainer.num_nodes=2"], PINNED, "strategy=ddp_spawn.*trainer=ddp_cpu"),
    (TORCHRUN, ["trainer=cpu"], PINNED, "devices=2 trainer.num_nodes=2"),  # the default trainer: one device
    (SRUN, ["trainer=ddp_cpu", "trainer.num_nodes=2"], PINNED, "trainer.devices=4 trainer.num_nodes=2"),
    (TORCHRUN, ["trainer=ddp_cpu", "trainer.num_nodes=2"], [], "hydra.run.dir="),  # each rank its own run dir
    (TORCHRUN, ["model=ease"], PINNED, "fitted by one process"),
])
def test_impossible_launch_is_refused(env: dict, overrides: list[str], hydra: list[str], message: str,
                                      tmp_path: Path, processed_root: Path) -> None:
    from recsys.training.build import is_neural

    cfg = compose_train(tmp_path, processed_root, overrides)
    with pytest.raises(ConfigError, match=message):
        check_launch(cfg, env, hydra, neural=is_neural(cfg.model))


def test_preflight_refuses_a_mismatched_torchrun_launch(tmp_path: Path, processed_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys.training.preflight import preflight

    for key, value in TORCHRUN.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="torchrun started 4 processes on 2 node"):
        preflight(compose_train(tmp_path, processed_root, ["trainer=ddp_cpu"]), [])
