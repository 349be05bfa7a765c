"""Train a recommender: ``python train.py model=two_tower loss=bpr`` (see conf/train.yaml)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import recsys  # the ${repo_root:} resolver and the trusted _target_ modules
from recsys.cli import print_metrics
from recsys.training.build import ConfigError
from recsys.training.resume import resume_config
from recsys.training.run import command_line_overrides, optimized_value, train


@hydra.main(config_path="conf", config_name="train", execution_whitelist=list(recsys.TRUSTED_TARGETS))
def main(cfg: DictConfig) -> float | None:
    try:
        cfg = resume_config(cfg, command_line_overrides())
        metrics, _ = train(cfg)
    except ConfigError as error:  # a setting that cannot work: its message says the fix
        raise SystemExit(f"error: {error}") from None
    print_metrics(metrics)
    return optimized_value(cfg, metrics)


if __name__ == "__main__":
    main()
