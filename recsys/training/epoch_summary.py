"""One log line per epoch, for runs whose output is not a terminal.

A progress bar redrawn in a file is thousands of lines of carriage returns, so ``fit_two_tower``
drops it when stderr is not a terminal and adds :class:`EpochSummary` instead: the run still shows
its progress, one quiet line per epoch.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only

log = logging.getLogger(__name__)


class EpochSummary(pl.Callback):
    """Logs ``epoch E/N: <metric>=<value> ... (<seconds> s)`` after each epoch's validation.

    Args:
        metrics: the logged metrics to show, in this order (those not logged yet are left out).
    """

    def __init__(self, metrics: tuple[str, ...] = ("train/loss", "val/ndcg@10", "val/recall@10")) -> None:
        self.metrics = metrics
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    @rank_zero_only
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook, so its metrics are in.
        logged: dict[str, Any] = trainer.callback_metrics
        shown = " ".join(f"{name}={float(logged[name]):.4f}" for name in self.metrics if name in logged)
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        log.info("epoch %d/%s: %s (%.1f s)", trainer.current_epoch + 1, total, shown, time.perf_counter() - self._start)
