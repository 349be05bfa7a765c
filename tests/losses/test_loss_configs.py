"""Every YAML option in conf/loss and conf/negatives instantiates and runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys.losses import TowerLoss, TowerOutputs
from recsys.models.similarity import CosineSimilarity

CONF = Path(__file__).resolve().parents[2] / "conf"
NEGATIVES = sorted((CONF / "negatives").glob("*.yaml"))
LOSSES = sorted((CONF / "loss").glob("*.yaml"))


def batch(loss: TowerLoss, sampler) -> TowerOutputs:
    torch.manual_seed(0)
    b, d, n_items = 6, 4, 10
    out = TowerOutputs(
        user=torch.randn(b, d), pos_item=torch.randn(b, d), rating=torch.rand(b) * 4.5 + 0.5,
        pos_item_idx=torch.randint(0, n_items, (b,)), similarity=CosineSimilarity(),
    )
    if loss.needs_negatives:
        out.neg_item_idx = loss.negative_sampler.sample(b, "cpu")
        out.neg_item = torch.randn(*out.neg_item_idx.shape, d)
    if loss.needs_all_items:
        out.all_items = torch.randn(n_items, d)
    return out


def test_files_found() -> None:
    assert {p.stem for p in LOSSES} >= {"mse", "bpr", "combined", "softmax", "sampled_softmax", "full_softmax"}
    assert {p.stem for p in NEGATIVES} >= {"uniform", "popularity"}


@pytest.mark.parametrize("neg_path", NEGATIVES, ids=lambda p: p.stem)
@pytest.mark.parametrize("loss_path", LOSSES, ids=lambda p: p.stem)
def test_loss_yaml_instantiates_and_runs(loss_path: Path, neg_path: Path) -> None:
    root = OmegaConf.create({"negatives": OmegaConf.load(neg_path), "loss": OmegaConf.load(loss_path)})
    loss = instantiate(root.loss)
    assert isinstance(loss, TowerLoss)
    counts = torch.arange(1.0, 11.0)
    loss.setup(counts)
    if loss.needs_negatives:
        assert loss.negative_sampler is not None
    value = loss(batch(loss, loss.negative_sampler))
    assert value.ndim == 0 and torch.isfinite(value)
