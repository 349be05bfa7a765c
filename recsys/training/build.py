"""Instantiate the configured pieces (model, loss, trainer...) with the data's sizes filled in.

Data-dependent fields stay ``???`` in YAML (``num_embeddings: ???``) and are filled here from what
the loaded split offers, so a forgotten field fails loudly and a tower that needs something the
data set lacks gets a clear error.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.data.interactions import SplitData


class ConfigError(ValueError):
    """A configuration that cannot work with this data or machine; the message says the fix."""


def _missing_keys(node: DictConfig) -> list[str]:
    return [key for key in node if OmegaConf.is_missing(node, key)]


def fill_missing(node: DictConfig, available: dict[str, Any], what: str) -> dict[str, Any]:
    """Values for the ``???`` fields of ``node`` taken from ``available``.

    Raises:
        ConfigError: a field the data cannot provide, or features the data set lacks.
    """
    kwargs: dict[str, Any] = {}
    for key in _missing_keys(node):
        if key not in available:
            raise ConfigError(f"{what} ({node.get('_target_')}) needs '{key}', which the data cannot provide; set {key}=... in its config")
        value = available[key]
        if key == "features" and (value is None or value.shape[1] == 0):
            raise ConfigError(
                f"{what} ({node.get('_target_')}) needs features, but this data set has none; "
                f"choose {what}=id or a data set with features"
            )
        kwargs[key] = value
    return kwargs


def load_split(data_cfg: DictConfig) -> SplitData:
    """Prepare (processing is cached by content hash) and load the configured data set and split.

    Raises:
        ConfigError: the train or test split is empty.
    """
    dataset = instantiate(data_cfg, _convert_="all").prepare()
    data = SplitData.load(dataset)
    for name in ("train", "test"):
        if len(getattr(data, name)) == 0:
            raise ConfigError(f"the {name} split of {dataset.split_dir} is empty; choose another split with data/split=<name>")
    return data


def user_tower_inputs(data: SplitData) -> dict[str, Any]:
    """Everything a user tower may ask for: sizes, features and the training history."""
    indptr, items, ratings = data.train_history()
    return {
        "num_embeddings": data.n_users,
        "num_items": data.n_items,
        "features": data.user_features,
        "history_indptr": indptr,
        "history_items": items,
        "history_ratings": ratings,
    }


def item_tower_inputs(data: SplitData) -> dict[str, Any]:
    """Everything an item tower may ask for."""
    return {"num_embeddings": data.n_items, "features": data.item_features}


def is_neural(model_cfg: DictConfig) -> bool:
    """Whether the model config is a two-tower network (it has towers) rather than a baseline."""
    return "user_tower" in model_cfg and "item_tower" in model_cfg


def build_two_tower(model_cfg: DictConfig, data: SplitData) -> torch.nn.Module:
    """Instantiate a two-tower model with both towers' data-dependent fields filled in."""
    user_cfg, item_cfg = model_cfg.user_tower, model_cfg.item_tower
    user_tower = instantiate(user_cfg, **fill_missing(user_cfg, user_tower_inputs(data), "user_tower"))
    item_tower = instantiate(item_cfg, **fill_missing(item_cfg, item_tower_inputs(data), "item_tower"))
    return instantiate(model_cfg, user_tower=user_tower, item_tower=item_tower)


def build_loss(loss_cfg: DictConfig, data: SplitData, min_positive_rating: float | None = None) -> torch.nn.Module:
    """Instantiate the loss and give it (and its negative sampler) the item counts of the rows it
    trains on (ratings >= ``min_positive_rating`` when set), which log-Q corrections assume."""
    loss = instantiate(loss_cfg)
    loss.setup(torch.from_numpy(data.item_counts(min_positive_rating)).float())
    return loss


def build_callbacks(cfg: DictConfig | None) -> list[Any]:
    return [instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]


def build_loggers(cfg: DictConfig | None) -> list[Any]:
    """Instantiate the loggers; a factory that returns None (tracking unavailable) is skipped."""
    loggers = [instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]
    return [logger for logger in loggers if logger is not None]


def check_accelerator(trainer_cfg: DictConfig | dict, fix: str = "trainer=cpu") -> None:
    """Fail early, with the fix, when a GPU is asked for (``accelerator: gpu``) on a machine without one."""
    accelerator = trainer_cfg.get("accelerator")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"accelerator={accelerator} asks for a GPU but torch sees none (torch.cuda.is_available() is False); "
            f"use {fix}, or install a CUDA build of torch (see environment.yml)"
        )
