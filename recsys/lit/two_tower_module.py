"""LightningModule that trains a two-tower model with any loss of :mod:`recsys.losses`.

The model and the loss are plain ``nn.Module`` objects built from their configs (``conf/model``,
``conf/loss``) with the data's sizes filled in; this module only wires them to Lightning: the
training step, evaluation, optimizers and schedulers. Its hyper-parameters are the configs
themselves (``save_hyperparameters``), so ``TwoTowerModule.load_from_checkpoint(path)`` rebuilds
the trained model from the checkpoint alone (the processed data set is loaded from its cache).

Evaluation has one path. ``validation_step`` / ``test_step`` embed the split's users chunk by
chunk (the datamodule's ``val_dataloader`` / ``test_dataloader``) and the epoch end ranks the
catalogue for all of them with :func:`recsys.evaluation.evaluate.evaluate_vectors`, re-ranker
included. The same code chooses the checkpoint during ``fit``, fills ``metrics.json`` after it
(``trainer.validate`` / ``trainer.test`` on the best checkpoint) and runs in ``eval.py``. Under DDP
every rank evaluates every user (each gets the same numbers, so no reduction is needed).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys.data.interactions import SplitData
from recsys.evaluation.evaluate import evaluate_vectors
from recsys.evaluation.metrics import RankingReport
from recsys.lit.batch_gather import gather_batch_items
from recsys.losses.outputs import TowerOutputs
from recsys.training.build import build_loss, build_two_tower, load_split
from recsys.training.sparse_optim import parameter_groups
from recsys.utils.rng import get_rng_states, set_rng_states
from recsys.utils.partials import plain_partial

ConfigLike = DictConfig | dict[str, Any] | None
# torch.compile modes (compile_mode); the last two capture CUDA graphs on GPUs
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune")
CUDA_GRAPH_MODES = COMPILE_MODES[2:]


def _plain(node: ConfigLike) -> dict[str, Any] | None:
    """A resolved plain dict (what a checkpoint stores, loadable with ``weights_only``)."""
    if node is None:
        return None
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)


def _cfg(node: dict[str, Any] | None) -> DictConfig | None:
    return None if node is None else OmegaConf.create(node)


class TwoTowerModule(pl.LightningModule):
    """Trains the configured two-tower model with the configured loss.

    Args:
        model: ``conf/model`` node of a two-tower model (towers with ``???`` data fields).
        loss: ``conf/loss`` node.
        optimizer: ``conf/optimizer`` node (``_partial_: true``).
        data: ``conf/data`` node; used to load the split when ``split_data`` is not given
            (``load_from_checkpoint``).
        scheduler: ``conf/scheduler`` node (``_partial_: true``) or None.
        rerank: ``conf/rerank`` node or None: evaluation re-ranks with it (validation included).
        min_positive_rating: the rows the loss trains on (their item counts feed log-Q).
        monitor: the metric LR schedulers such as ReduceLROnPlateau follow.
        compile_step: run the training step's forward and loss through ``torch.compile``
            (the modules stay uncompiled, so checkpoints keep their keys).
        compile_mode: ``torch.compile``'s mode for ``compile_step``: ``default``,
            ``reduce-overhead`` (CUDA graphs: one replay per forward and backward instead of a
            launch per kernel), ``max-autotune`` (autotuned kernels and CUDA graphs) or
            ``max-autotune-no-cudagraphs``; CUDA graphs apply on GPUs only.
        split_data: the loaded split (injected by ``train()``; not a hyper-parameter).
    """

    def __init__(
        self,
        model: ConfigLike,
        loss: ConfigLike,
        optimizer: ConfigLike,
        data: ConfigLike = None,
        scheduler: ConfigLike = None,
        rerank: ConfigLike = None,
        min_positive_rating: float | None = None,
        monitor: str = "val/ndcg@10",
        compile_step: bool = False,
        compile_mode: str = "default",
        split_data: SplitData | None = None,
    ) -> None:
        super().__init__()
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}, got {compile_mode!r}")
        model, loss, optimizer = _plain(model), _plain(loss), _plain(optimizer)
        data, scheduler, rerank = _plain(data), _plain(scheduler), _plain(rerank)
        self.save_hyperparameters(ignore=["split_data"], logger=False)
        if split_data is None:
            if data is None:
                raise ValueError("TwoTowerModule needs split_data or the data config to load it")
            split_data = load_split(_cfg(data))
        self.split_data = split_data
        self.model = build_two_tower(_cfg(model), split_data)
        self.loss = build_loss(_cfg(loss), split_data, min_positive_rating)
        self.optimizer_factory = plain_partial(instantiate(_cfg(optimizer)))  # picklable: ddp_spawn
        self.scheduler_factory = plain_partial(instantiate(_cfg(scheduler))) if scheduler else None
        self.reranker = instantiate(_cfg(rerank)) if rerank else None
        self.monitor = monitor
        self.compile_step = bool(compile_step)
        self.compile_mode = compile_mode
        self._compiled_batch_loss: Any = None
        self._user_vectors: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._item_vectors: torch.Tensor | None = None
        self.reports: dict[str, RankingReport] = {}
        self._epoch_loss_sum = torch.zeros(())
        self._epoch_steps = 0
        self._shard = (0, 1)  # (rank, world size) of training, set at fit start

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
            neg_idx = self.sample_negatives(user_idx.shape[0], user_idx.device)
            neg = self.model.item_embeddings(neg_idx.reshape(-1)).reshape(*neg_idx.shape, -1)
            out.neg_item, out.neg_item_idx = neg, neg_idx
        if self.loss.needs_all_items:
            out.all_items = self.model.item_embeddings(None)
        if self.loss.gathers_batch and self._shard[1] > 1:  # DDP: every rank's positives are candidates
            out.batch_items, out.batch_item_idx, out.batch_offset = gather_batch_items(pos_item, item_idx)
        return out

    def sample_negatives(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """This rank's rows of the global batch's negatives: LongTensor (batch_size, N).

        Every DDP rank starts from the same seed, so each draws the negatives of the whole global
        batch (``world_size * batch_size`` rows, as one process with that batch would) and keeps
        its slice: ranks get different negatives, not copies. One process: a plain draw.
        """
        rank, world_size = self._shard
        negatives = self.loss.negative_sampler.sample(batch_size * world_size, device=device)
        return negatives[rank * batch_size : (rank + 1) * batch_size]

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one batch (what ``compile_step`` compiles)."""
        return self.loss(self.tower_outputs(batch))

    def on_fit_start(self) -> None:
        self._shard = (self.global_rank, self.trainer.world_size)
        if self.compile_step and self._compiled_batch_loss is None:
            self._compiled_batch_loss = torch.compile(self.batch_loss, mode=self.compile_mode)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self._compiled_batch_loss is not None and self.compile_mode in CUDA_GRAPH_MODES:
            torch.compiler.cudagraph_mark_step_begin()  # a new step: last step's graph outputs may be reused
        loss = (self._compiled_batch_loss or self.batch_loss)(batch)
        # self.log costs ~1 ms of Python per call, as much as a whole GPU step: log the step loss
        # every trainer.log_every_n_steps only, and the epoch mean from a running device-side sum.
        self._epoch_loss_sum = self._epoch_loss_sum + loss.detach()
        self._epoch_steps += 1
        if batch_idx % max(1, self.trainer.log_every_n_steps) == 0:
            # a copy: under CUDA graphs the next step's replay overwrites ``loss`` in place
            self.log("train/loss", loss.detach().clone(), on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_loss_sum = torch.zeros((), device=self.device)
        self._epoch_steps = 0
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and getattr(datamodule, "train_batches", None) is not None:
            datamodule.train_batches.set_epoch(self.current_epoch)

    def on_train_epoch_end(self) -> None:
        if self._epoch_steps:
            self.log("train/loss_epoch", self._epoch_loss_sum / self._epoch_steps, sync_dist=True)

    # --------------------------------------------------------------- evaluation
    def _embed_users(self, user_idx: torch.Tensor) -> None:
        if user_idx.numel():
            vectors = self.model.similarity.prepare(self.model.user_embeddings(user_idx)).float()
            self._user_vectors.append((user_idx, vectors))  # on the module's device: ranked there

    @torch.no_grad()
    def _start_evaluation(self) -> None:
        # Embed the items here, at the epoch start, with the weights validation_step uses:
        # callbacks run their epoch-end hooks before the module's (EMA swaps its weights back there).
        self._user_vectors = []
        self._item_vectors = self.model.similarity.prepare(self.model.item_embeddings(None)).float()

    def _evaluate(self, split: str) -> RankingReport:
        """Rank the catalogue for every user of ``split`` embedded this epoch; log ``<split>/*``."""
        task = self.trainer.datamodule.task(split)
        items = self._item_vectors
        # ranked on the module's device, where the vectors already are (one matmul + top-k per chunk on a GPU)
        users = torch.zeros(self.split_data.n_users, items.shape[1], device=items.device)
        for idx, vectors in self._user_vectors:
            users[idx] = vectors
        self._user_vectors = []
        report, _ = evaluate_vectors(task, self.split_data, users, items, reranker=self.reranker)
        self.reports[split] = report
        for name, value in report.overall.items():
            if isinstance(value, float) and "@" in name:
                # every rank computed the same value from every user; the mean over ranks of equal
                # floats is that float exactly (sync_dist: what Lightning expects of epoch metrics)
                self.log(f"{split}/{name}", value, prog_bar=name in ("ndcg@10", "recall@10"), sync_dist=True)
        return report

    def on_validation_epoch_start(self) -> None:
        self._start_evaluation()

    def validation_step(self, user_idx: torch.Tensor, batch_idx: int) -> None:
        self._embed_users(user_idx)

    @torch.no_grad()
    def on_validation_epoch_end(self) -> None:
        self._evaluate("val")

    def on_test_epoch_start(self) -> None:
        self._start_evaluation()

    def test_step(self, user_idx: torch.Tensor, batch_idx: int) -> None:
        self._embed_users(user_idx)

    @torch.no_grad()
    def on_test_epoch_end(self) -> None:
        self._evaluate("test")

    # ----------------------------------------------------------- exact resuming
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the RNG states so a resumed run draws the same dropout masks and negatives."""
        checkpoint["rng_states"] = get_rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint and self._trainer is not None and self.trainer.state.fn == "fit":
            set_rng_states(checkpoint["rng_states"])

    # --------------------------------------------------------------- optimizers
    def configure_optimizers(self) -> Any:
        # the sparse embedding tables (sparse=True) in a group of their own: recsys/training/sparse_optim.py
        optimizer = self.optimizer_factory(params=parameter_groups(self))
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch", "frequency": 1},
        }
