"""Each of these inputs used to fail silently or late; each must now fail early and clearly, or work."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from recsys.training.build import ConfigError
from recsys.training.evaluation import evaluate_run
from recsys.training.resume import resume_config
from recsys.training.run import train
from tests.compose import compose_train


# small and fast: ID towers, 18 steps per epoch
CHEAP = ["user_tower=id", "item_tower=id", "batch_size=4096", "export_embeddings=false"]


def _strict_json(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds the non-JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("eval.chunk_size=-1", "chunk_size"),
        ("eval.chunk_size=0", "chunk_size"),
        ("eval.ks=[0,10]", "ks"),
        ("eval.ks=abc", "ks"),
        ("batch_size=0", "batch_size"),
        ("batch_size=abc", "batch_size"),
        ("trainer.max_epochs=abc", "trainer.max_epochs"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("optimizer.lr=-1", "learning rate"),
        ("loss.temperature=0", "temperature"),
        ("optimized_metric=val/ndcg@7", "optimized_metric"),
        ("ensemble_seeds=[1,2] model=popularity", "ensemble_seeds"),
        ("compile_mode=fast", "compile_mode"),
    ],
)
def test_invalid_settings_fail_before_any_data_is_processed(tmp_path: Path, override: str, field: str) -> None:
    processed = tmp_path / "processed"
    cfg = compose_train(tmp_path / "run", processed, override.split())
    with pytest.raises((ConfigError, ValueError), match=field):
        train(cfg, overrides=[])
    assert not processed.exists(), "the data was processed before the setting was checked"


def test_gpu_trainer_without_a_gpu_fails_before_data_processing(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    processed = tmp_path / "processed"
    with pytest.raises(ConfigError, match="trainer=cpu"):
        train(compose_train(tmp_path / "run", processed, ["trainer=gpu"]), overrides=[])
    assert not processed.exists()


@pytest.mark.parametrize("accelerator, message", [("tpu", "not one of cpu, gpu"), ("gpu", "use accelerator=cpu")])
def test_eval_refuses_an_accelerator_it_cannot_use_before_loading_anything(
    tmp_path: Path, accelerator: str, message: str
) -> None:
    if accelerator == "gpu" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    # the run directory does not exist: the accelerator is checked before it is read
    with pytest.raises(ConfigError, match=message):
        evaluate_run(run_dir=tmp_path / "no-run", accelerator=accelerator)


def test_unwritable_checkpoint_folder_fails_before_training_with_its_path(tmp_path: Path, processed_root: Path) -> None:
    blocker = tmp_path / "run" / "checkpoints"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the checkpoint folder should be")  # root ignores chmod; this cannot be bypassed
    with pytest.raises(ConfigError, match=str(blocker)):
        train(compose_train(tmp_path / "run", processed_root), overrides=[])


def test_options_the_model_ignores_are_reported(tmp_path: Path, processed_root: Path, bundled_dataset, caplog) -> None:
    caplog.set_level(logging.WARNING)
    cfg = compose_train(tmp_path / "ease", processed_root, ["model=popularity", "loss=bpr"])
    train(cfg, overrides=["model=popularity", "loss=bpr"])
    assert "loss does not apply to recsys.models.baselines.popularity.PopularityRecommender" in caplog.text
    caplog.clear()
    from recsys.training.preflight import warn_unused_options

    mf = compose_train(tmp_path / "mf", processed_root, ["model=mf", "user_tower=history"])
    warnings = warn_unused_options(mf, ["model=mf", "user_tower=history"])
    assert any("user_tower does not apply" in w for w in warnings)
    assert warn_unused_options(compose_train(tmp_path / "tt", processed_root, ["user_tower=history"]), ["user_tower=history"]) == []


def test_metrics_json_is_strict_json_and_a_baseline_run_is_evaluable(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    metrics, _ = train(compose_train(tmp_path, processed_root, ["model=popularity"]), overrides=[])
    saved = _strict_json(tmp_path / "metrics.json")  # the empty 'cold' activity bucket is null, not NaN
    assert saved["test_by_activity"]["cold"]["ndcg@10"] is None
    assert saved["run_dir"] == str(tmp_path)
    again = evaluate_run(run_dir=tmp_path, output_dir=tmp_path / "eval")
    assert again["val"] == saved["val"] and again["test"] == saved["test"]
    assert math.isclose(saved["test"]["ndcg@10"], 0.1614, abs_tol=0.002)  # popularity on the bundled split


@pytest.mark.slow  # ~15 s: a run with a re-ranker, evaluated again
def test_eval_reproduces_metrics_json_with_a_reranker_and_the_checkpoint_was_chosen_by_that_number(
    tmp_path: Path, processed_root: Path, bundled_dataset
) -> None:
    cfg = compose_train(tmp_path, processed_root, [*CHEAP, "rerank=coverage", "callbacks=ema", "callbacks.ema.decay=0.9",
                                                   "trainer.max_epochs=2"])
    metrics, objects = train(cfg, overrides=[])
    best = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    score = next(v["best_model_score"] for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint{'monitor': 'val/ndcg@10'"))
    assert float(score) == pytest.approx(metrics["val"]["ndcg@10"], abs=1e-7)  # float32 in the checkpoint
    again = evaluate_run(run_dir=tmp_path, output_dir=tmp_path / "eval")
    assert again["val"] == metrics["val"] and again["test"] == metrics["test"]
    plain = evaluate_run(run_dir=tmp_path, rerank_cfg=compose_train(tmp_path, processed_root).rerank)
    assert plain["val"]["coverage@10"] != metrics["val"]["coverage@10"]  # the re-ranker did act


@pytest.mark.slow  # ~20 s: three epochs
def test_last_checkpoint_is_the_last_epoch_not_the_best(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    # monitoring the epoch number with mode=min makes epoch 0 the "best", so the last epoch differs from it
    cfg = compose_train(tmp_path, processed_root, [*CHEAP, "trainer.max_epochs=3", "callbacks.model_checkpoint.monitor=epoch",
                                                   "callbacks.model_checkpoint.mode=min", "callbacks.early_stopping.patience=100"])
    metrics, _ = train(cfg, overrides=[])
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    best = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    assert (best["epoch"], last["epoch"]) == (0, 2)


@pytest.mark.slow  # 40 s: three training runs
def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    common = [*CHEAP, "callbacks.early_stopping.patience=100"]
    straight, _ = train(compose_train(tmp_path / "straight", processed_root, [*common, "trainer.max_epochs=3"]), overrides=[])
    train(compose_train(tmp_path / "resumed", processed_root, [*common, "trainer.max_epochs=1"]), overrides=[])
    overrides = ["trainer.max_epochs=3", "ckpt_path=last"]
    cfg = resume_config(compose_train(tmp_path / "resumed", processed_root, [*common, *overrides]), overrides)
    resumed, _ = train(cfg, overrides=overrides)
    assert resumed["val"] == straight["val"] and resumed["test"] == straight["test"]
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_uses_the_runs_saved_config_and_refuses_unsafe_overrides(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    run = tmp_path / "run"
    train(compose_train(run, processed_root, [*CHEAP, "trainer.max_epochs=1"]), overrides=[])
    saved_text = (run / "config.yaml").read_text()
    # a plain `hydra.run.dir=<run> ckpt_path=last` composes the default towers: the saved ones must win
    resumed = resume_config(compose_train(run, processed_root, ["ckpt_path=last", "trainer.max_epochs=2"]),
                            ["ckpt_path=last", "trainer.max_epochs=2"])
    assert resumed.user_tower._target_ == "recsys.models.towers.IdTower" and resumed.user_tower.features is None
    assert resumed.trainer.max_epochs == 2
    with pytest.raises(ConfigError, match="loss"):
        resume_config(compose_train(run, processed_root, ["ckpt_path=last", "loss=bpr"]), ["ckpt_path=last", "loss=bpr"])
    # a resume that fails (a changed embedding size cannot load the checkpoint) keeps the run's record
    bad = compose_train(run, processed_root, [*CHEAP, "user_tower.embedding_dim=64", "ckpt_path=last", "trainer.max_epochs=2"])
    with pytest.raises(RuntimeError, match="size mismatch"):
        train(bad, overrides=[])
    assert (run / "config.yaml").read_text() == saved_text


def test_train_py_prints_the_error_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    import recsys

    result = subprocess.run(
        [sys.executable, str(recsys.REPO_ROOT / "train.py"), "trainer.max_epochs=abc", "logger=none",
         f"hydra.run.dir={tmp_path}", f"data.processed_root={tmp_path / 'processed'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert "error: trainer.max_epochs must be an integer" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "processed").exists()
