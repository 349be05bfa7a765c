"""Seed ensembles: members trained with their own seeds, exported as one concatenated model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.evaluation.evaluate import build_task, evaluate_vectors
from recsys.lit.datamodule import InteractionDataModule
from recsys.lit.two_tower_module import TwoTowerModule
from recsys.training.evaluation import evaluate_run
from recsys.training.run import train
from tests.compose import compose_train


def test_ensemble_concatenates_members_and_scores_their_sum(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    cfg = compose_train(tmp_path, processed_root, ["ensemble_seeds=[3,4]"])
    metrics, objects = train(cfg)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [m["seed"] for m in saved["members"]] == [3, 4]
    data = objects["data"]
    users = np.load(tmp_path / "user_embeddings.npy")
    items = np.load(tmp_path / "item_embeddings.npy")
    assert users.shape == (data.n_users, 256) and items.shape == (data.n_items, 256)
    # the exported vectors are the members' retrieval vectors side by side: scores add up
    vectors = []
    for member in saved["members"]:
        ckpt = Path(member["best_checkpoint"])
        assert ckpt.exists() and f"seed{member['seed']}" in str(ckpt)
        model = TwoTowerModule.load_from_checkpoint(ckpt, split_data=data).model.eval()
        vectors.append(model.retrieval_vectors())
    summed = sum(u @ i.T for u, i in vectors)
    np.testing.assert_allclose(users @ items.T, summed.numpy(), rtol=1e-4, atol=1e-4)
    # the members differ (different seeds), and metrics.json is the ensemble's own evaluation
    assert not torch.allclose(vectors[0][1], vectors[1][1])
    task = build_task(data, "test")
    report, _ = evaluate_vectors(task, data, torch.from_numpy(users), torch.from_numpy(items))
    assert saved["test"]["ndcg@10"] == pytest.approx(report.overall["ndcg@10"])
    assert not (tmp_path / "members" / "seed3" / "user_embeddings.npy").exists()
    # eval.py evaluates the ensemble's run directory from its exported vectors, as train() did
    again = evaluate_run(run_dir=tmp_path)
    assert again["val"] == saved["val"] and again["test"] == saved["test"]


def test_ensemble_seeds_must_be_distinct(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    with pytest.raises(ValueError, match="distinct"):
        train(compose_train(tmp_path, processed_root, ["ensemble_seeds=[3,3]"]))


def test_a_non_zero_rank_trains_every_member_and_reports_nothing(tmp_path: Path, processed_root: Path) -> None:
    # under DDP with one process per rank, fit_two_tower returns ({}, objects) on ranks > 0: those
    # ranks must still train every member in step with rank 0, or rank 0 would wait forever
    from recsys.training.ensemble import fit_ensemble

    cfg = compose_train(tmp_path, processed_root, ["ensemble_seeds=[5,6,7]"])
    trained = []

    def fit_on_rank_one(member_cfg, datamodule, member_dir):
        trained.append((member_cfg.seed, datamodule.seed, Path(member_cfg.paths.output_dir).name))
        return {}, {"model": None}

    datamodule = InteractionDataModule(cfg.data, split_data=None)
    reports, _ = fit_ensemble(cfg, datamodule, output_dir=tmp_path, fit_member=fit_on_rank_one)
    assert reports == {}
    assert trained == [(5, 5, "seed5"), (6, 6, "seed6"), (7, 7, "seed7")]
