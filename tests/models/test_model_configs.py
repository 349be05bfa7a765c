"""Every YAML option of the model-side groups instantiates, and the groups compose with Hydra."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys.models.history_tower import HistoryUserTower
from recsys.models.towers import IdTower
from recsys.models.two_tower import TwoTower
from recsys.training.build import ConfigError, fill_missing
from recsys.utils.compose import compose_config

CONF = Path(__file__).resolve().parents[2] / "conf"
U, I = 4, 6


def tower_data(features_dim: int, rows: int) -> dict:
    return {
        "num_embeddings": rows,
        "num_items": I,
        "features": torch.randn(rows, features_dim),
        "history_indptr": torch.tensor([0, 2, 3, 5, 6]),
        "history_items": torch.tensor([0, 1, 2, 3, 4, 5]),
        "history_ratings": torch.tensor([1.0, 4.0, 3.0, 5.0, 2.0, 4.0]),
    }


def instantiate_tower(cfg, **available):
    """A tower config instantiated the way production does it (``fill_missing``)."""
    return instantiate(cfg, **fill_missing(cfg, available, "tower"))


def build_model(cfg) -> TwoTower:
    user = instantiate_tower(cfg.user_tower, **tower_data(3, U))
    item = instantiate_tower(cfg.item_tower, **tower_data(5, I))
    return instantiate(cfg, user_tower=user, item_tower=item)


@pytest.mark.parametrize("group", ["user_tower", "item_tower"])
def test_tower_yaml_instantiates(group: str) -> None:
    files = sorted((CONF / group).glob("*.yaml"))
    assert files
    for path in files:
        rows = U if group == "user_tower" else I
        tower = instantiate_tower(OmegaConf.load(path), **tower_data(3, rows))
        tower.eval()
        out = tower(torch.arange(min(rows, U)))
        assert out.shape == (min(rows, U), tower.output_dim), path.name


TWO_TOWER_MODELS = [p for p in sorted((CONF / "model").glob("*.yaml")) if "user_tower" in OmegaConf.load(p)]


def test_two_tower_model_files_found() -> None:
    assert {p.stem for p in TWO_TOWER_MODELS} >= {"two_tower", "mf"}


@pytest.mark.parametrize("path", TWO_TOWER_MODELS, ids=lambda p: p.stem)
def test_model_yaml_instantiates(path: Path) -> None:
    root = compose_config("train", [f"model={path.stem}"])  # composed: a model YAML may have a defaults list
    model = build_model(root.model).eval()
    assert isinstance(model, TwoTower)
    assert model(torch.tensor([0, 1]), torch.tensor([2, 3]))[0].shape == (2, model.output_dim)


def test_missing_tower_field_fails_loudly() -> None:
    cfg = OmegaConf.load(CONF / "user_tower" / "id_features.yaml")
    with pytest.raises(ConfigError, match="features"):
        instantiate_tower(cfg, num_embeddings=3)


@pytest.mark.parametrize(
    ("overrides", "user_cls", "item_cls", "dim"),
    [
        ([], IdTower, IdTower, 128),
        (["user_tower=history", "item_tower=id"], HistoryUserTower, IdTower, 128),
        (["model=mf", "user_tower=history"], IdTower, IdTower, 64),
    ],
)
def test_groups_compose(tmp_path: Path, overrides: list[str], user_cls: type, item_cls: type, dim: int) -> None:
    for group in ["user_tower", "item_tower", "model", "loss", "negatives", "optimizer"]:
        shutil.copytree(CONF / group, tmp_path / group)
    (tmp_path / "train.yaml").write_text(
        "defaults:\n  - user_tower: id_features\n  - item_tower: id_features\n"
        "  - negatives: uniform\n  - optimizer: adam\n  - model: two_tower\n  - loss: softmax\n  - _self_\n"
    )
    cfg = compose_config("train", overrides, config_dir=tmp_path)
    model = build_model(cfg.model)
    assert isinstance(model.user_tower, user_cls) and isinstance(model.item_tower, item_cls)
    assert model.output_dim == dim
