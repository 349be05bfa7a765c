"""Evaluate a checkpoint: ``python eval.py ckpt=outputs/train/<run>/checkpoints/last.ckpt``."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

import recsys  # noqa: F401  (registers the ${repo_root:} resolver)
from recsys.cli import print_metrics
from recsys.training.checkpoint_eval import evaluate_checkpoint


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    metrics = evaluate_checkpoint(cfg.ckpt, cfg.eval, Path(cfg.output_dir), list(cfg.splits))
    print_metrics({"model": cfg.ckpt, "data": "", "split": ",".join(cfg.splits), **metrics})
    print(f"embeddings and eval_metrics.json written to {cfg.output_dir}")


if __name__ == "__main__":
    main()
