"""Evaluate any run directory: ``python eval.py run=outputs/train/<run>`` (or ``ckpt=<file>``).

Two-tower checkpoints go through the same trainer hooks that chose them during training, with
the run's own evaluation protocol and re-ranker (override with ``eval=...`` / ``rerank=...``);
baselines are reloaded from ``model.npz``, seed ensembles from their exported embeddings.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

import recsys  # the ${repo_root:} resolver and the trusted _target_ modules
from recsys.cli import print_metrics
from recsys.training.build import ConfigError
from recsys.training.evaluation import evaluate_run


@hydra.main(config_path="conf", config_name="evaluate", execution_whitelist=list(recsys.TRUSTED_TARGETS))
def main(cfg: DictConfig) -> None:
    try:
        metrics = evaluate_run(
            run_dir=cfg.run, ckpt=cfg.ckpt, eval_cfg=cfg.get("eval"), rerank_cfg=cfg.get("rerank"),
            splits=tuple(cfg.splits), output_dir=Path(cfg.output_dir), accelerator=cfg.accelerator,
        )
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    print_metrics({"model": metrics["checkpoint"], "data": "", "split": ",".join(cfg.splits), **metrics})
    print(f"eval_metrics.json (and a two-tower's embeddings) written to {cfg.output_dir}")


if __name__ == "__main__":
    main()
