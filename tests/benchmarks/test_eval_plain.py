"""The evaluation benchmark's plain matmul + topk baseline, timed beside ours in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from recsys.benchmarks import evaluation


def test_plain_loop_is_timed_and_finds_the_same_sets(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    assert evaluation.main(["--users", "200", "--items", "700", "--dim", "8", "--mean-train", "15", "--backends", "torch",
                            "--chunk-size", "64", "50", "--block-search", "on", "--output", str(out)]) == 0  # fmt: skip
    records = json.loads(out.read_text())
    plain = [r for r in records if r.get("pipeline") == "plain"]
    assert [r["chunk_size"] for r in plain] == [64, 50]
    assert all(r["ours_backend"] == "torch" and r["ours_over_plain"] > 0 for r in plain)
    assert all(r["same_topk_sets"] == 1.0 for r in plain)  # random floats: no ties, same sets
    assert records[-1] == {"backends_identical": True}  # both chunk sizes


def test_plain_topk_masks_the_training_items() -> None:
    train = evaluation.synthetic_train(50, 80, 10.0, seed=1)
    g = torch.Generator().manual_seed(2)
    users, items = torch.randn(50, 4, generator=g), torch.randn(80, 4, generator=g)
    top = evaluation.plain_topk(users, items, 5, train, chunk_size=7)
    scores = users @ items.T
    scores[torch.from_numpy(train.toarray() != 0)] = float("-inf")
    assert torch.equal(top.sort(dim=1).values, scores.topk(5, dim=1).indices.sort(dim=1).values)
