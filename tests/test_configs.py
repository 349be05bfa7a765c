"""Every option of every config group composes and instantiates (STYLE: parametrize over YAML)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from pytorch_lightning.loggers import Logger

import recsys
from recsys.evaluation.protocol import EvaluationProtocol
from recsys.training.preflight import check_optimizer, preflight
from recsys.data.prepare import MovieLensData
from recsys.models.base import Recommender
from recsys.training.build import ConfigError, build_loss, build_two_tower, check_accelerator, is_neural
from tests.compose import compose_train

CONF = recsys.REPO_ROOT / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("option", options("data"))
def test_data_options(option: str, tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"data={option}"])
    data = instantiate(cfg.data, _convert_="all")
    assert isinstance(data, MovieLensData)
    assert data.split_name == "random" and data.split.params()["kind"] == "RandomPerUserSplit"


@pytest.mark.parametrize("option", options("model"))
def test_model_options(option: str, tmp_path: Path, processed_root: Path, bundled_split) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"model={option}"])
    if is_neural(cfg.model):
        model = build_two_tower(cfg.model, bundled_split)
        users = torch.arange(4)
        user, item = model.eval()(users, users)
        assert user.shape == item.shape == (4, model.output_dim)
    else:
        assert isinstance(instantiate(cfg.model), Recommender)


@pytest.mark.parametrize("group", ["user_tower", "item_tower"])
def test_tower_options(group: str, tmp_path: Path, processed_root: Path, bundled_split) -> None:
    for option in options(group):
        cfg = compose_train(tmp_path, processed_root, [f"{group}={option}"])
        model = build_two_tower(cfg.model, bundled_split).eval()
        vectors = model.user_embeddings(torch.arange(3)) if group == "user_tower" else model.item_embeddings(torch.arange(3))
        assert vectors.shape == (3, model.output_dim) and torch.isfinite(vectors).all()


@pytest.mark.parametrize("loss", options("loss"))
@pytest.mark.parametrize("negatives", options("negatives"))
def test_loss_and_negative_options(loss: str, negatives: str, tmp_path: Path, processed_root: Path, bundled_split) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"loss={loss}", f"negatives={negatives}"])
    assert isinstance(build_loss(cfg.loss, bundled_split), torch.nn.Module)


@pytest.mark.parametrize("option", options("optimizer"))
def test_optimizer_options(option: str, tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"optimizer={option}"])
    # built over a tower in miniature with the embedding layout the config gives, one step taken
    optimizer = check_optimizer(cfg)
    assert isinstance(optimizer, torch.optim.Optimizer)


@pytest.mark.parametrize("option", options("scheduler"))
def test_scheduler_options(option: str, tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"scheduler={option}"])
    if not cfg.get("scheduler"):
        return
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    scheduler = instantiate(cfg.scheduler)(optimizer=optimizer)
    for _ in range(5):
        optimizer.step()
        scheduler.step(0.0) if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else scheduler.step()
    assert optimizer.param_groups[0]["lr"] < 0.1  # every configured schedule lowers the rate


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(option: str, tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"trainer={option}"])
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(ConfigError):
            check_accelerator(cfg.trainer)
        return
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("group", ["callbacks", "logger", "eval", "rerank", "datamodule"])
def test_other_groups(group: str, tmp_path: Path, processed_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    if not (CONF / group).exists():
        pytest.skip(f"no {group} group")
    for option in options(group):
        cfg = compose_train(tmp_path, processed_root, [f"{group}={option}"])
        node = cfg.get(group)
        if group == "datamodule":
            assert instantiate(node, data=cfg.data).batch_size == cfg.batch_size
        elif group == "eval":
            assert isinstance(instantiate(node), EvaluationProtocol)
        elif group == "rerank":
            assert hasattr(instantiate(node), "rerank")
        elif node:
            for child in node.values():
                made = instantiate(child)
                if group == "logger":  # a logger factory returns None when tracking cannot start
                    assert made is None or isinstance(made, Logger), (option, made)
                else:
                    assert isinstance(made, pl.Callback), (option, made)


@pytest.mark.parametrize("option", options("experiment"))
def test_experiment_options(option: str, tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, [f"experiment={option}"])
    assert preflight(cfg, []) == []  # every part instantiates and validates, nothing is unused
