"""LightningModule that trains a two-tower model with any loss of :mod:`recsys.losses`.

The model and the loss are plain ``nn.Module`` objects built from config; this module only wires
them to Lightning: the training step, full-ranking validation (``val/ndcg@10`` and friends, exact
across DDP ranks), optimizers and schedulers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric

from recsys.evaluation.full_ranking import FullRankingTask
from recsys.losses.outputs import TowerLoss, TowerOutputs

VAL_METRICS = ("recall", "precision", "ndcg", "hit_rate", "map")


class TwoTowerModule(pl.LightningModule):
    """Trains ``model`` with ``loss``; validates by full ranking over the catalogue.

    Args:
        model: a :class:`recsys.models.two_tower.TwoTower`.
        loss: a :class:`recsys.losses.outputs.TowerLoss` (already ``setup`` with item counts).
        optimizer: partial optimizer, called with the parameters.
        scheduler: partial LR scheduler, called with the optimizer, or None.
        val_task: the validation ranking task (set by :func:`recsys.training.build`).
        monitor: the metric schedulers such as ReduceLROnPlateau follow.
        compile_step: run the training step's forward and loss through ``torch.compile``
            (the modules themselves stay uncompiled, so checkpoints keep their keys).
    """

    def __init__(
        self,
        model: nn.Module,
        loss: TowerLoss,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        val_task: FullRankingTask | None = None,
        monitor: str = "val/ndcg@10",
        compile_step: bool = False,
    ) -> None:
        super().__init__()
        self.compile_step = bool(compile_step)
        self._compiled_batch_loss: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None
        self.model = model
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.val_task = val_task
        self.monitor = monitor
        ks = val_task.ks if val_task is not None else (10,)
        self.val_metrics = nn.ModuleDict(
            {f"{name}@{k}": MeanMetric() for name in VAL_METRICS for k in ks}
        )
        self._catalog_vectors: torch.Tensor | None = None
        self._epoch_loss_sum = torch.zeros(())
        self._epoch_steps = 0

    # ----------------------------------------------------------------- training
    def tower_outputs(self, batch: dict[str, torch.Tensor]) -> TowerOutputs:
        """Embed a batch and everything the loss asks for."""
        user_idx, item_idx = batch["user_idx"], batch["item_idx"]
        user, pos_item = self.model(user_idx, item_idx, exclude_item_idx=item_idx)
        out = TowerOutputs(
            user=user,
            pos_item=pos_item,
            rating=batch.get("rating"),
            pos_item_idx=item_idx,
            similarity=self.model.similarity,
        )
        if self.loss.needs_negatives:
            neg_idx = self.loss.negative_sampler.sample(user_idx.shape[0], device=user_idx.device)
            neg = self.model.item_embeddings(neg_idx.reshape(-1)).reshape(*neg_idx.shape, -1)
            out.neg_item, out.neg_item_idx = neg, neg_idx
        if self.loss.needs_all_items:
            out.all_items = self.model.item_embeddings(None)
        return out

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one batch (what ``compile_step`` compiles)."""
        return self.loss(self.tower_outputs(batch))

    def on_fit_start(self) -> None:
        if self.compile_step and self._compiled_batch_loss is None:
            self._compiled_batch_loss = torch.compile(self.batch_loss)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = (self._compiled_batch_loss or self.batch_loss)(batch)
        # self.log costs ~1 ms of Python per call, as much as a whole GPU step: log the step loss
        # every trainer.log_every_n_steps only, and the epoch mean from a running device-side sum.
        self._epoch_loss_sum = self._epoch_loss_sum + loss.detach()
        self._epoch_steps += 1
        if batch_idx % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        if self._epoch_steps:
            self.log("train/loss_epoch", self._epoch_loss_sum / self._epoch_steps, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self._epoch_loss_sum = torch.zeros((), device=self.device)
        self._epoch_steps = 0
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and getattr(datamodule, "train_batches", None) is not None:
            datamodule.train_batches.set_epoch(self.current_epoch)

    # --------------------------------------------------------------- validation
    @torch.no_grad()
    def catalog_vectors(self) -> torch.Tensor:
        """Retrieval vectors of the catalogue items, (C, D), computed once per validation epoch."""
        if self._catalog_vectors is None:
            catalog = torch.as_tensor(self.val_task.catalog, device=self.device)
            items = self.model.item_embeddings(catalog)
            self._catalog_vectors = self.model.similarity.prepare(items).float()
        return self._catalog_vectors

    def on_validation_epoch_start(self) -> None:
        self._catalog_vectors = None

    def validation_step(self, user_idx: torch.Tensor, batch_idx: int) -> None:
        if self.val_task is None or user_idx.numel() == 0:
            return
        user_vectors = self.model.similarity.prepare(self.model.user_embeddings(user_idx)).float()
        metrics, n_users = self.val_task.chunk_metrics(user_idx, user_vectors, self.catalog_vectors())
        for name, value in metrics.items():
            if name in self.val_metrics:
                self.val_metrics[name].update(torch.tensor(value, device=self.device), weight=n_users)

    def on_validation_epoch_end(self) -> None:
        if self.val_task is None:
            return
        for name, metric in self.val_metrics.items():
            # Logging the metric object lets Lightning compute it (synchronised across DDP ranks,
            # each metric a user-weighted mean, so equal to a single process) and reset it.
            self.log(f"val/{name}", metric, prog_bar=name in ("ndcg@10", "recall@10"))
        self._catalog_vectors = None

    # --------------------------------------------------------------- optimizers
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch", "frequency": 1},
        }
