from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from recsys.training.build import ConfigError, check_accelerator, fill_missing
from recsys.training.evaluation import evaluate_run
from recsys.training.run import train
from tests.compose import compose_train


def test_default_two_tower_writes_a_complete_run_directory(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    cfg = compose_train(tmp_path, processed_root)
    metrics, objects = train(cfg)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for split in ("val", "test"):
        for key in ("recall@10", "ndcg@10", "precision@10", "map@10", "hit_rate@10", "coverage@10"):
            assert 0.0 <= saved[split][key] <= 1.0
    assert saved["test"]["ndcg@10"] > 0.0
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert Path(saved["best_checkpoint"]).exists()
    assert (tmp_path / "config.yaml").exists()
    data = objects["data"]
    users = np.load(tmp_path / "user_embeddings.npy")
    items = np.load(tmp_path / "item_embeddings.npy")
    assert users.shape == (data.n_users, 128) and items.shape == (data.n_items, 128)
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), 1.0, rtol=1e-4)  # cosine: normalised
    meta = pd.read_parquet(tmp_path / "items.parquet")
    assert list(meta.columns[:5]) == ["item_idx", "movieId", "title", "genres", "year"]
    assert len(meta) == data.n_items
    # eval.py on the best checkpoint reproduces the run's own test metrics exactly
    reloaded = evaluate_run(ckpt=saved["best_checkpoint"], splits=("test",), output_dir=tmp_path / "eval")
    assert reloaded["test"] == saved["test"]
    assert (tmp_path / "eval" / "item_embeddings.npy").exists()


@pytest.mark.slow  # ~17 s: two runs
def test_seeded_cpu_runs_are_deterministic(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    overrides = ["callbacks=none", "export_embeddings=false", "loss=bpr"]
    first, _ = train(compose_train(tmp_path / "a", processed_root, overrides))
    second, _ = train(compose_train(tmp_path / "b", processed_root, overrides))
    assert first["test"] == second["test"]


def test_gpu_trainer_without_gpu_is_a_clear_error(tmp_path: Path, processed_root: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    cfg = compose_train(tmp_path, processed_root, ["trainer=gpu"])
    with pytest.raises(ConfigError, match="trainer=cpu"):
        check_accelerator(cfg.trainer)


def test_tower_needing_missing_features_is_a_clear_error(tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, ["user_tower=id_features"])
    with pytest.raises(ConfigError, match="user_tower=id"):
        fill_missing(cfg.user_tower, {"num_embeddings": 3, "features": torch.zeros(3, 0)}, "user_tower")


def test_unknown_group_option_names_the_choices(tmp_path: Path, processed_root: Path) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="Available options"):
        compose_train(tmp_path, processed_root, ["loss=nope"])


def test_empty_test_split_is_a_clear_error(tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, processed_root, ["data.split.test_fraction=0.0"])
    with pytest.raises(ValueError, match=r"data.split.test_fraction=0.0 is not in \(0, 1\)"):
        train(cfg)


def test_ema_callbacks_validate_checkpoint_and_test_with_the_averaged_weights(
    tmp_path: Path, processed_root: Path, bundled_dataset
) -> None:
    cfg = compose_train(tmp_path, processed_root, ["callbacks=ema", "callbacks.ema.decay=0.9", "trainer.max_epochs=2"])
    metrics, objects = train(cfg)
    best = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=False)
    # the checkpoint's state_dict is the average; the raw weights are kept beside it for resuming
    assert "current_model_state" in best
    averaged, current = best["state_dict"], best["current_model_state"]
    name = next(k for k in averaged if k.endswith("embedding.weight"))
    assert not torch.allclose(averaged[name], current[name])
    # the module evaluated at the end holds the averaged weights, and eval.py reproduces the test metrics
    assert torch.equal(objects["module"].state_dict()[name], averaged[name])
    reloaded = evaluate_run(ckpt=metrics["best_checkpoint"], splits=("test",), output_dir=tmp_path / "eval")
    assert reloaded["test"] == json.loads(json.dumps(metrics["test"]))


@pytest.mark.slow
def test_compiled_training_step_matches_the_eager_one(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    eager, _ = train(compose_train(tmp_path / "eager", processed_root, ["trainer.max_epochs=1"]))
    compiled, objects = train(compose_train(tmp_path / "compiled", processed_root, ["trainer.max_epochs=1", "compile_step=true"]))
    assert objects["trainer"].lightning_module._compiled_batch_loss is not None  # the module that trained
    # same seed, same batches: compiled kernels reorder float sums, so metrics agree closely, not bitwise
    assert compiled["val"]["ndcg@10"] == pytest.approx(eager["val"]["ndcg@10"], abs=0.01)
    assert compiled["test"]["ndcg@10"] > 0.05


def test_redirected_output_gets_one_line_per_epoch_and_no_progress_bar(
    tmp_path: Path, processed_root: Path, bundled_dataset, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # pytest captures stderr, so it is not a terminal: what `python train.py > log 2>&1` sees
    cfg = compose_train(tmp_path, processed_root, ["trainer.enable_progress_bar=true", "trainer.max_epochs=2",
                                                   "user_tower=id", "item_tower=id", "export_embeddings=false"])
    with caplog.at_level("INFO", logger="recsys.training.epoch_summary"):
        _, objects = train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "recsys.training.epoch_summary"]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("val/ndcg@10=" in line and "train/loss=" in line for line in lines)
    assert not any(isinstance(c, pl.callbacks.ProgressBar) for c in objects["trainer"].callbacks)
    assert "it/s" not in capsys.readouterr().err
