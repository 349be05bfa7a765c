"""What a run leaves in W&B, read back from the offline run's own transaction log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.training.run import train
from recsys.utils.loggers import sweep_group_and_name
from recsys.utils.wandb_offline import read_offline_run, records
from tests.compose import compose_train


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def _offline_run(run_dir: Path):
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    run = read_offline_run(runs[0])
    assert run.complete, f"{runs[0]}: no exit record after 30 s"
    return run


def test_two_tower_run_logs_config_metrics_tables_plots_and_artifact(tmp_path: Path, processed_root: Path, bundled_dataset, offline) -> None:
    cfg = compose_train(tmp_path, processed_root, ["logger=wandb", f"logger.wandb.save_dir={tmp_path}"])
    metrics, _ = train(cfg)
    run = _offline_run(tmp_path)
    assert run.config["loss"]["_target_"] == "recsys.losses.softmax.InBatchSoftmaxLoss"  # the resolved config
    assert run.config["optimizer"]["weight_decay"] == cfg.optimizer.weight_decay
    for split in ("val", "test"):
        for name in ("ndcg@10", "coverage@10", "recall@20"):
            assert run.summary[f"final/{split}/{name}"] == metrics[split][name]
    logged = {key.split("/")[0] for key in run.history_keys}
    assert {"val", "test_by_activity", "ndcg_vs_coverage", "ndcg_vs_coverage_plot", "item_embeddings_pca", "val_top10"} <= logged
    assert "val/ndcg@10" in run.history_keys  # the per-epoch curve
    model = [a for a in run.artifacts if a["type"] == "model"]
    assert len(model) == 1 and set(model[0]["aliases"]) == {"best", "latest"}
    assert {"config.yaml", "metrics.json", "user_embeddings.npy", "item_embeddings.npy", "items.parquet"} <= set(model[0]["files"])
    assert f"checkpoints/{Path(metrics['best_checkpoint']).name}" in model[0]["files"]
    media = list((next((tmp_path / "wandb").glob("offline-run-*")) / "files" / "media" / "table").glob("val_top10*.json"))
    table = json.loads(media[0].read_text())
    assert table["columns"] == ["user_idx", "rank", "title", "genres", "score"] and len(table["data"]) == 50
    titles = set(objects_titles(tmp_path))
    assert all(row[2] in titles for row in table["data"])  # real titles of the catalogue


def objects_titles(run_dir: Path) -> list[str]:
    import pandas as pd

    return pd.read_parquet(run_dir / "items.parquet")["title"].tolist()


def test_baseline_run_logs_its_model_file(tmp_path: Path, processed_root: Path, bundled_dataset, offline) -> None:
    cfg = compose_train(tmp_path, processed_root, ["model=popularity", "logger=wandb", f"logger.wandb.save_dir={tmp_path}"])
    metrics, _ = train(cfg)
    run = _offline_run(tmp_path)
    assert run.summary["final/test/ndcg@10"] == metrics["test"]["ndcg@10"]
    (model,) = [a for a in run.artifacts if a["type"] == "model"]
    assert "model.npz" in model["files"] and "best" in model["aliases"]


def test_not_a_transaction_log_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run-x.wandb").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a W&B transaction log"):
        records(tmp_path / "run-x.wandb")


def test_outside_a_sweep_there_is_no_group() -> None:
    assert sweep_group_and_name() == (None, None)
