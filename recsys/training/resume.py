"""Resuming a killed run: its own saved config, its last checkpoint, nothing silently changed.

``python train.py hydra.run.dir=<run> ckpt_path=last`` composes the *default* config unless told
otherwise; :func:`resume_config` replaces it by the run's saved ``config.yaml`` and applies only
the command-line overrides that are safe to change mid-run (more epochs, patience, logging),
refusing the others with the list of what was asked.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from recsys.training.build import ConfigError

log = logging.getLogger(__name__)

# Overrides a resumed run may change: how long it trains and how it reports, not what it trains.
SAFE_RESUME_KEYS = (
    "ckpt_path",
    "trainer.max_epochs",
    "trainer.min_epochs",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "callbacks.early_stopping.patience",
    "logger",
)


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``last`` means this run directory's ``checkpoints/last.ckpt`` (the last finished epoch)."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        last = Path(output_dir) / "checkpoints" / "last.ckpt"
        if not last.exists():
            raise ConfigError(
                f"ckpt_path=last but {last} does not exist; resume inside the killed run's directory "
                f"with hydra.run.dir=<that directory> ckpt_path=last"
            )
        return str(last)
    if not Path(ckpt_path).exists():
        raise ConfigError(f"checkpoint {ckpt_path} does not exist")
    return ckpt_path


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def is_resume(cfg: DictConfig) -> bool:
    """Whether ``cfg`` resumes a run (``ckpt_path`` set and the run directory has its config)."""
    return bool(cfg.get("ckpt_path")) and (Path(cfg.paths.output_dir) / "config.yaml").exists()


def resume_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The config a run should continue with.

    Args:
        cfg: the config composed from the command line.
        overrides: the command-line overrides (``HydraConfig.get().overrides.task``).

    Returns:
        ``cfg`` itself for a fresh run; for a resumed one, the run's saved ``config.yaml`` with the
        safe overrides (:data:`SAFE_RESUME_KEYS`) taken from ``cfg``.

    Raises:
        ConfigError: an override would change what the resumed run trains.
    """
    if not is_resume(cfg):
        return cfg
    saved_path = Path(cfg.paths.output_dir) / "config.yaml"
    saved = OmegaConf.load(saved_path)
    keys = [_override_key(o) for o in overrides if not _override_key(o).startswith("hydra.")]
    unsafe = [k for k in keys if not any(k == s or k.startswith(s + ".") for s in SAFE_RESUME_KEYS)]
    unsafe = [k for k in unsafe if OmegaConf.select(saved, k) != OmegaConf.select(cfg, k)]
    if unsafe:
        raise ConfigError(
            f"resuming {cfg.paths.output_dir} uses its saved {saved_path.name}; these overrides would change "
            f"what it trains: {unsafe}. Drop them, or start a new run (without ckpt_path) to change them. "
            f"Safe to change on resume: {list(SAFE_RESUME_KEYS)}"
        )
    applied = []
    with open_dict(saved):
        for key in keys:
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
            applied.append(f"{key}={OmegaConf.select(cfg, key)}")
    log.info("resuming %s with its saved %s; overrides applied: %s", cfg.paths.output_dir, saved_path.name, applied or "none")
    return saved
