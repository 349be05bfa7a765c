"""What the in-batch softmax's duplicate mask costs: the loss forward + backward with and without it.

Usage: python -m recsys.benchmarks.softmax_mask [--device cuda --batch-size 16384 --dim 128
       --items 59047 --steps 50 --warmup 5 --compile --output PATH]

:class:`~recsys.losses.softmax.InBatchSoftmaxLoss` masks, in each row, the other copies of the
row's positive item (a (B, B) comparison of item indices, then an in-place ``masked_fill_``).
This times one loss step (logits, cross-entropy, backward to the embeddings) of the real loss and
of the same logits without the mask, on popularity-skewed items (Zipf over ``--items``, so popular
items repeat within a batch as in MovieLens), and with ``--compile`` both through
``torch.compile`` (which fuses the comparison into the softmax kernels). The difference bounds
what any cheaper exact masking could save. Prints JSON and writes it to ``--output`` (default
``outputs/benchmarks/softmax_mask.json``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from recsys.benchmarks import machine
from recsys.losses.outputs import TowerOutputs
from recsys.losses.softmax import InBatchSoftmaxLoss
from recsys.models.similarity import CosineSimilarity


def batch(batch_size: int, dim: int, n_items: int, device: str, seed: int = 0) -> TowerOutputs:
    """Random (B, D) user and item embeddings (leaves with gradients) and Zipf-distributed item indices (B,)."""
    g = torch.Generator().manual_seed(seed)
    weights = 1.0 / torch.arange(1, n_items + 1, dtype=torch.float64)
    idx = torch.multinomial(weights / weights.sum(), batch_size, replacement=True, generator=g)
    user = torch.randn(batch_size, dim, generator=g).to(device).requires_grad_()
    item = torch.randn(batch_size, dim, generator=g).to(device).requires_grad_()
    return TowerOutputs(user=user, pos_item=item, rating=None, pos_item_idx=idx.to(device), similarity=CosineSimilarity())


def unmasked(loss: InBatchSoftmaxLoss) -> Callable[[TowerOutputs], torch.Tensor]:
    """The loss's logits (same fused log-Q and temperature) without the duplicate mask."""
    def forward(out: TowerOutputs) -> torch.Tensor:
        bias = -loss.item_log_q[out.pos_item_idx].unsqueeze(0)
        logits = out.similarity.matrix(out.user, out.pos_item, scale=1.0 / loss.temperature, bias=bias)
        return F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))
    return forward


def time_step(fn: Callable[[TowerOutputs], torch.Tensor], out: TowerOutputs, steps: int, warmup: int) -> float:
    """Milliseconds per forward + backward of ``fn(out)`` (device synchronised)."""
    cuda = out.user.is_cuda
    for i in range(warmup + steps):
        if i == warmup:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        fn(out).backward()
    if cuda:
        torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - start) / steps


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--items", type=int, default=59_047)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also time both through torch.compile")
    ap.add_argument("--output", type=Path, default=machine.default_output("softmax_mask"), help="JSON file (default: %(default)s)")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Times the masked and the unmasked loss step; returns the printed JSON object."""
    if args.device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")  # as training on a GPU does
    out = batch(args.batch_size, args.dim, args.items, args.device)
    loss = InBatchSoftmaxLoss(temperature=0.05).to(args.device)
    loss.setup(torch.bincount(out.pos_item_idx.cpu(), minlength=args.items) + 1)
    variants: dict[str, Callable[[TowerOutputs], torch.Tensor]] = {"masked": loss, "unmasked": unmasked(loss)}
    if args.compile:
        variants |= {f"{name}_compiled": torch.compile(fn) for name, fn in list(variants.items())}
    same = out.pos_item_idx.unsqueeze(0) == out.pos_item_idx.unsqueeze(1)
    result: dict[str, Any] = {
        "machine": machine.describe(args.device), "device": args.device, "batch_size": args.batch_size,
        "dim": args.dim, "items": args.items, "duplicate_pairs": int(same.sum()) - args.batch_size,
        "ms_per_step": {name: round(time_step(fn, out, args.steps, args.warmup), 3) for name, fn in variants.items()},
    }  # fmt: skip
    ms = result["ms_per_step"]
    result["mask_share_eager"] = round(1 - ms["unmasked"] / ms["masked"], 3)
    if args.compile:
        result["mask_share_compiled"] = round(1 - ms["unmasked_compiled"] / ms["masked_compiled"], 3)
    machine.emit(result, args.output)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m recsys.benchmarks.softmax_mask``; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
