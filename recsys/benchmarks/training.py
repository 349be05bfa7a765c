"""Training throughput: our LightningModule vs a plain PyTorch loop vs the per-row tutorial feed.

All three train the same model (same init) with the same loss; ours and the plain loop consume the
very same tensor batches (``TensorBatches``); the tutorial feed is a pandas row per
``Dataset.__getitem__`` through ``DataLoader(batch_size=512, num_workers=4)``. Model, loss and
optimizer of all three come from one composed ``conf/train.yaml`` (``--model``, ``--loss``,
``--optimizer``, ``--overrides``), the optimizer over :func:`recsys.training.sparse_optim.parameter_groups`
as ``TwoTowerModule.configure_optimizers`` builds it, so ``--optimizer sparse_adam`` gives every loop
the same sparse tables and SparseAdam. Prints JSON (samples/s, ours / plain, peak RSS) and writes
it to ``--output`` (default ``outputs/benchmarks/training.json``).

    recsys-bench-training                                  # bundled data, CPU
    recsys-bench-training --model mf --loss mse --optimizer sparse_adam_mf --tutorial-steps 0
    recsys-bench-training --data synthetic --device cuda --batch-size 16384 \
        --precision bf16-mixed --loss softmax --epochs 1   # GPU, 25M synthetic
"""

from __future__ import annotations

import argparse
import copy
import resource
import time
from pathlib import Path
from statistics import median
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

import recsys
from recsys.benchmarks import machine
from recsys.data.batches import TensorBatches
from recsys.data.interactions import SplitData
from recsys.lit.datamodule import InteractionDataModule
from recsys.lit.two_tower_module import TwoTowerModule
from recsys.losses.outputs import TowerOutputs
from recsys.training.build import build_loss, build_two_tower, load_split
from recsys.training.sparse_optim import parameter_groups, sparse_parameters
from recsys.utils.compose import compose_config


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _autocast(device: torch.device, precision: str):
    enabled = precision.startswith("bf16")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def step_fn(model, loss, optimizer, device, precision, compile_step: bool = False):
    def forward_loss(user_idx, item_idx, rating):
        user, item = model(user_idx, item_idx, exclude_item_idx=item_idx)
        out = TowerOutputs(user=user, pos_item=item, rating=rating, pos_item_idx=item_idx, similarity=model.similarity)
        if loss.needs_negatives:
            neg_idx = loss.negative_sampler.sample(user_idx.shape[0], device=device)
            out.neg_item = model.item_embeddings(neg_idx.reshape(-1)).reshape(*neg_idx.shape, -1)
            out.neg_item_idx = neg_idx
        if loss.needs_all_items:
            out.all_items = model.item_embeddings(None)
        return loss(out)

    forward = torch.compile(forward_loss) if compile_step else forward_loss

    def step(user_idx, item_idx, rating):
        with _autocast(device, precision):
            value = forward(user_idx, item_idx, rating)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        return value
    return step


def make_optimizer(cfg: DictConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``model``'s parameter groups, as ``TwoTowerModule`` builds it."""
    return instantiate(cfg.optimizer)(params=parameter_groups(model))


def plain_loop(cfg: DictConfig, model, loss, batches: TensorBatches, device, precision, steps: int, warmup: int,
               compile_step: bool = False) -> tuple[float, float]:
    """Samples per second of wall-clock time and per second of this process's CPU time."""
    model = model.to(device).train()
    loss = loss.to(device)
    optimizer = make_optimizer(cfg, model)
    step = step_fn(model, loss, optimizer, device, precision, compile_step)
    done, start, cpu_start = 0, 0.0, 0.0
    while done < steps + warmup:
        for batch in batches:
            if done == warmup:
                _sync(device)
                start, cpu_start = time.perf_counter(), time.process_time()
            step(batch["user_idx"], batch["item_idx"], batch["rating"])
            done += 1
            if done == steps + warmup:
                break
    _sync(device)
    samples = steps * batches.batch_size
    return samples / (time.perf_counter() - start), samples / (time.process_time() - cpu_start)


class _Timer(pl.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.cpu_start, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            _sync(module.device)
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_train_end(self, trainer, module) -> None:
        _sync(module.device)
        self.seconds, self.cpu_seconds = time.perf_counter() - self.start, time.process_time() - self.cpu_start
        self.steps = trainer.global_step - self.warmup


def lightning_loop(cfg: DictConfig, model: torch.nn.Module, data: SplitData, batch_size: int, device: torch.device,
                   precision: str, steps: int, warmup: int, compile_step: bool = False) -> tuple[float, float]:
    """Samples per wall-clock and per CPU second of ``TwoTowerModule`` built from ``cfg`` (model, loss,
    optimizer, data nodes), its weights set to ``model``'s so that it starts where the plain loop starts."""
    module = TwoTowerModule(model=cfg.model, loss=cfg.loss, optimizer=cfg.optimizer, data=cfg.data,
                            compile_step=compile_step, split_data=data)  # fmt: skip
    module.model.load_state_dict(model.state_dict())
    datamodule = InteractionDataModule(None, protocol=None, batch_size=batch_size, seed=cfg.seed, split_data=data)
    timer = _Timer(warmup)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, precision=precision,
        max_steps=steps + warmup, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False, callbacks=[timer],
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.steps * batch_size / timer.seconds, timer.steps * batch_size / timer.cpu_seconds


class RowDataset(Dataset):
    """The common tutorial feed: one pandas row per item."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: int):
        row = self.frame.iloc[index]
        return int(row.user_idx), int(row.item_idx), float(row.rating)


def tutorial_loop(cfg: DictConfig, model, loss, data, device, precision, steps, warmup) -> float:
    frame = pd.DataFrame({"user_idx": data.train.user_idx, "item_idx": data.train.item_idx, "rating": data.train.rating})
    loader = DataLoader(RowDataset(frame), batch_size=512, shuffle=True, num_workers=4, pin_memory=device.type == "cuda")
    model = model.to(device).train()
    loss = loss.to(device)
    optimizer = make_optimizer(cfg, model)
    step = step_fn(model, loss, optimizer, device, precision)
    done, start = 0, None
    for users, items, ratings in loader:
        if done == warmup:
            _sync(device)
            start = time.perf_counter()
        step(users.to(device, non_blocking=True), items.to(device, non_blocking=True), ratings.float().to(device, non_blocking=True))
        done += 1
        if done == steps + warmup:
            break
    _sync(device)
    return (done - warmup) * 512 / (time.perf_counter() - start)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ml_latest_small", help="a conf/data option")
    parser.add_argument("--data-overrides", nargs="*", default=[], help="Hydra overrides of the data node")
    parser.add_argument("--model", default=None, help="a conf/model option with towers (two_tower, mf); default: train.yaml's")
    parser.add_argument("--loss", default=None, help="a conf/loss option; default: train.yaml's (softmax)")
    parser.add_argument("--optimizer", default=None,
                        help="a conf/optimizer option (sparse_adam: sparse tables); default: the model's (adam, mf: adam_mf)")
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="further Hydra overrides of conf/train.yaml, e.g. user_tower=id optimizer.lr=0.01")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per pipeline (ours and plain)")
    parser.add_argument("--epochs", type=float, default=0, help="if > 0, time this many epochs instead of --steps")
    parser.add_argument("--repeats", type=int, default=1,
                        help="time plain and ours this many times, alternating; the median of each is reported")
    parser.add_argument("--tutorial-steps", type=int, default=40, help="0: skip the per-row feed")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward + loss of ours and the plain loop")
    parser.add_argument("--processed-root", default=str(recsys.REPO_ROOT / "data" / "processed"))
    parser.add_argument("--output", type=Path, default=machine.default_output("training"),
                        help="JSON file (default: %(default)s)")
    return parser.parse_args(argv)


def compose(args: argparse.Namespace) -> DictConfig:
    """The train config every loop builds its model, loss and optimizer from."""
    chosen = [f"{group}={option}" for group, option in (("model", args.model), ("loss", args.loss), ("optimizer", args.optimizer))
              if option is not None]
    return compose_config("train", ["logger=none", "paths.output_dir=/tmp/bench_training", f"data={args.data}",
                                    f"data.processed_root={args.processed_root}", *args.data_overrides, *chosen, *args.overrides])


class PeakRSS:
    """Peak resident memory (MB) of this process, overall and per phase (Linux resets the
    high-water mark through ``/proc/self/clear_refs``; elsewhere every phase reports the overall peak)."""

    def __init__(self) -> None:
        self.overall = self.current_peak()

    @staticmethod
    def current_peak() -> float:
        try:
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def start_phase(self) -> None:
        self.overall = max(self.overall, self.current_peak())
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            pass

    def end_phase(self) -> float:
        peak = self.current_peak()
        self.overall = max(self.overall, peak)
        return round(peak)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Times the three pipelines from the same initial weights; returns the printed JSON object."""
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # as train.py does (float32_matmul_precision)
    memory = PeakRSS()
    cfg = compose(args)
    data = load_split(cfg.data)
    steps = args.steps
    if args.epochs > 0:
        steps = max(1, int(args.epochs * len(data.train) // args.batch_size))
    torch.manual_seed(0)
    model = build_two_tower(cfg.model, data)
    loss = build_loss(cfg.loss, data)
    batches = TensorBatches(
        {"user_idx": torch.from_numpy(data.train.user_idx), "item_idx": torch.from_numpy(data.train.item_idx),
         "rating": torch.from_numpy(data.train.rating)},
        batch_size=args.batch_size, drop_last=True, seed=cfg.seed, device=device,
    )
    results: dict[str, Any] = {
        "machine": machine.describe(device),
        "data": args.data, "train_ratings": len(data.train), "model": cfg.model._target_, "loss": cfg.loss._target_,
        "optimizer": cfg.optimizer._target_, "sparse_tables": [p.shape[0] for p in sparse_parameters(model)],
        "overrides": [*args.data_overrides, *args.overrides], "batch_size": args.batch_size,
        "precision": args.precision, "device": str(device), "timed_steps": steps, "repeats": args.repeats, "compile": args.compile,
    }
    peaks: dict[str, float] = {}
    plain_runs, ours_runs = [], []
    for _ in range(max(1, args.repeats)):
        memory.start_phase()
        plain_runs.append(plain_loop(cfg, copy.deepcopy(model), copy.deepcopy(loss), batches, device, args.precision, steps,
                                     args.warmup, args.compile))
        peaks["plain_pytorch_loop"] = max(peaks.get("plain_pytorch_loop", 0), memory.end_phase())
        memory.start_phase()
        ours_runs.append(lightning_loop(cfg, model, data, args.batch_size, device, args.precision, steps, args.warmup, args.compile))
        peaks["ours_lightning"] = max(peaks.get("ours_lightning", 0), memory.end_phase())
    plain, ours = median([r[0] for r in plain_runs]), median([r[0] for r in ours_runs])
    samples = {"ours_lightning": round(ours), "plain_pytorch_loop": round(plain)}
    # CPU time: what a shared machine's load distorts least (wall-clock waits for other processes)
    plain_cpu, ours_cpu = median([r[1] for r in plain_runs]), median([r[1] for r in ours_runs])
    if args.tutorial_steps > 0:
        memory.start_phase()
        tutorial = tutorial_loop(cfg, copy.deepcopy(model), copy.deepcopy(loss), data, device, args.precision,
                                 args.tutorial_steps, args.warmup)
        peaks["per_row_dataset_bs512_w4"] = memory.end_phase()
        samples["per_row_dataset_bs512_w4"] = round(tutorial)
    results["samples_per_s"] = samples
    if args.repeats > 1:
        results["samples_per_s_runs"] = {"ours_lightning": [round(v[0]) for v in ours_runs],
                                         "plain_pytorch_loop": [round(v[0]) for v in plain_runs]}
    results["ours_vs_plain"] = round(ours / plain, 3)
    results["samples_per_cpu_s"] = {"ours_lightning": round(ours_cpu), "plain_pytorch_loop": round(plain_cpu)}
    results["ours_vs_plain_cpu"] = round(ours_cpu / plain_cpu, 3)
    if args.tutorial_steps > 0:
        results["ours_vs_per_row"] = round(ours / samples["per_row_dataset_bs512_w4"], 1)
    results["epoch_seconds_ours"] = round(len(data.train) / ours, 2)
    results["peak_rss_mb"] = {"process": round(memory.overall), **peaks}
    results["loadavg_end"] = machine.describe(device)["loadavg"]
    machine.emit(results, args.output)
    return results


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-bench-training`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.benchmarks.training (the installed command calls main too)
    raise SystemExit(main())
