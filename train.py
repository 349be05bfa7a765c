"""Train a recommender: ``python train.py model=two_tower loss=bpr`` (see conf/train.yaml)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import recsys  # noqa: F401  (registers the ${repo_root:} resolver)
from recsys.cli import print_metrics
from recsys.training.run import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics, _ = train(cfg)
    print_metrics(metrics)
    return metrics.get("val", {}).get("ndcg@10") if metrics else None


if __name__ == "__main__":
    main()
