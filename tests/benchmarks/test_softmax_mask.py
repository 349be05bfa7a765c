"""The duplicate-mask benchmark times the real in-batch loss against the same logits unmasked."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from recsys.benchmarks import softmax_mask
from recsys.losses.softmax import InBatchSoftmaxLoss


def test_unmasked_differs_from_the_loss_only_at_duplicates(tmp_path: Path) -> None:
    out = softmax_mask.batch(256, 8, 50, "cpu")  # 50 Zipf items: many duplicates
    loss = InBatchSoftmaxLoss(temperature=0.05)
    loss.setup(torch.bincount(out.pos_item_idx, minlength=50) + 1)
    masked = loss.logits(out)
    idx = out.pos_item_idx
    duplicate = (idx[None] == idx[:, None]) & ~torch.eye(256, dtype=torch.bool)
    assert duplicate.any() and torch.isinf(masked[duplicate]).all() and torch.isfinite(masked[~duplicate]).all()
    # the unmasked cross-entropy is the loss's own logits with the duplicates kept
    bias = -loss.item_log_q[idx].unsqueeze(0)
    plain = out.similarity.matrix(out.user, out.pos_item, scale=1.0 / loss.temperature, bias=bias)
    torch.testing.assert_close(masked[~duplicate], plain[~duplicate], rtol=0, atol=0)
    want = torch.nn.functional.cross_entropy(plain, torch.arange(256))
    torch.testing.assert_close(softmax_mask.unmasked(loss)(out), want, rtol=0, atol=0)


def test_benchmark_runs(tmp_path: Path) -> None:
    path = tmp_path / "mask.json"
    assert softmax_mask.main(["--batch-size", "128", "--dim", "8", "--items", "100", "--steps", "2", "--warmup", "1",
                              "--output", str(path)]) == 0  # fmt: skip
    result = json.loads(path.read_text())
    assert result["duplicate_pairs"] > 0 and set(result["ms_per_step"]) == {"masked", "unmasked"}
