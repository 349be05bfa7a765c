"""The benchmarks at toy sizes: they run, print the JSON they write, and check what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.benchmarks import evaluation, machine, processing, rerank, training


def test_machine_describes_cpu_threads_and_load() -> None:
    m = machine.describe("cpu")
    assert m["cores"] >= 1 and m["torch_threads"] >= 1 and len(m["loadavg"]) == 3 and m["gpu"] is None
    assert "torch threads" in machine.summary()


def test_eval_backends_agree(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    assert evaluation.main(["--users", "300", "--items", "500", "--dim", "16", "--mean-train", "20",
                            "--chunk-size", "128", "--output", str(out)]) == 0  # fmt: skip
    records = json.loads(out.read_text())
    assert [r["backend"] for r in records[:2]] == ["torch", "faiss"]
    assert records[0]["users"] == 300 and records[0]["seconds"] >= 0 and "cpu" in records[0]["machine"]
    assert records[-1] == {"backends_identical": True}


def test_unknown_eval_backend_is_refused() -> None:
    with pytest.raises(SystemExit):
        evaluation.parse_args(["--backends", "numpy"])


def test_rerank_times_every_reranker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rerank.json"
    report = rerank.run(rerank.parse_args(["--users", "200", "--items", "400", "--candidates", "30", "--k", "10",
                                           "--dim", "8", "--mmr-users", "50", "--output", str(out)]))  # fmt: skip
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text())
    assert set(report["results"]) == {"popularity_penalty", "coverage", "mmr"}
    assert report["results"]["mmr"]["users"] == 50
    # the coverage re-ranker exists to spread the top 10 over more of the catalogue
    results = report["results"]
    assert results["coverage"]["distinct_items_in_top10"] >= results["popularity_penalty"]["distinct_items_in_top10"]


@pytest.mark.slow
def test_training_pipelines_all_train(tmp_path: Path, processed_root: Path, bundled_dataset) -> None:
    out = tmp_path / "training.json"
    report = training.run(training.parse_args([
        "--steps", "3", "--tutorial-steps", "3", "--warmup", "1", "--batch-size", "256",
        "--processed-root", str(processed_root), "--output", str(out),
    ]))
    assert set(report["samples_per_s"]) == {"ours_lightning", "plain_pytorch_loop", "per_row_dataset_bs512_w4"}
    assert all(v > 0 for v in report["samples_per_s"].values())
    assert json.loads(out.read_text())["timed_steps"] == 3
    assert report["peak_rss_mb"]["process"] >= report["peak_rss_mb"]["ours_lightning"] > 0


def test_training_benchmark_gives_both_loops_the_sparse_optimizer(
    tmp_path: Path, processed_root: Path, bundled_dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = []  # the plain loop's optimizers
    make = training.make_optimizer
    monkeypatch.setattr(training, "make_optimizer", lambda cfg, model: built.append(make(cfg, model)) or built[-1])
    report = training.run(training.parse_args([
        "--model", "mf", "--loss", "mse", "--optimizer", "sparse_adam_mf", "--overrides", "optimizer.lr=0.01",
        "--steps", "3", "--tutorial-steps", "0", "--warmup", "1", "--batch-size", "256", "--repeats", "2",
        "--processed-root", str(processed_root), "--output", str(tmp_path / "training.json"),
    ]))
    assert report["optimizer"] == "recsys.training.sparse_optim.SparseEmbeddingAdam"
    assert report["model"] == "recsys.models.two_tower.TwoTower" and report["loss"] == "recsys.losses.mse.MSELoss"
    assert len(report["sparse_tables"]) == 2 and report["overrides"] == ["optimizer.lr=0.01"]
    assert set(report["samples_per_s"]) == {"ours_lightning", "plain_pytorch_loop"}  # --tutorial-steps 0 skips the per-row feed
    assert len(report["samples_per_s_runs"]["ours_lightning"]) == 2 and report["ours_vs_plain"] > 0
    assert len(built) == 2 and all(type(o).__name__ == "SparseEmbeddingAdam" and o.param_groups[0]["lr"] == 0.01 for o in built)


@pytest.mark.slow
def test_processing_ours_and_pandas_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "RAW_ROOT", tmp_path / "raw")
    report = processing.run(processing.parse_args([
        "--ratings", "200000", "--memory-limit", "1GB", "--work", str(tmp_path / "work"),
        "--output", str(tmp_path / "processing.json"),
    ]))
    assert "error" not in report["ours"] and "error" not in report["pandas"]
    assert report["consistency"]["ok"] and report["ours"]["check"]["n_ratings"] > 0
