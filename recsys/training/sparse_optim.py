"""Sparse embedding gradients: SparseAdam for the embedding tables, Adam for the rest, one optimizer.

A tower built with ``sparse=True`` (``nn.Embedding(sparse=True)``, ``nn.EmbeddingBag(sparse=True)``)
gets from backward a sparse gradient of only the rows a batch looked up, (B, D) instead of (N, D):
no dense (N, D) gradient is written, zeroed or read. ``torch.optim.Adam`` refuses such gradients
and ``torch.optim.SparseAdam`` refuses dense ones, and Lightning's automatic optimisation drives a
single optimizer, so :class:`SparseEmbeddingAdam` is one ``torch.optim.Optimizer`` that owns the
parameter groups and the state (what ``state_dict``, checkpoints, resuming and LR schedulers see)
and delegates the update of each group to ``torch.optim.SparseAdam`` or ``torch.optim.Adam``.

``conf/optimizer/sparse_adam.yaml`` selects it; the tower configs take their ``sparse`` from that
node (``sparse: ${oc.select:optimizer.sparse_embeddings,false}``), so ``optimizer=sparse_adam``
alone switches the tables. ``TwoTowerModule.configure_optimizers``, preflight and the training
benchmark all pass :func:`parameter_groups` of the model, so every optimizer sees the same groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

__all__ = ["SparseEmbeddingAdam", "parameter_groups", "sparse_parameters"]

SPARSE_MODULES = (nn.Embedding, nn.EmbeddingBag)


def sparse_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The weights of ``module``'s embedding tables built with ``sparse=True``."""
    return [m.weight for m in module.modules() if isinstance(m, SPARSE_MODULES) and m.sparse]


def parameter_groups(module: nn.Module) -> list[Any]:
    """What an optimizer of ``module`` is built from (``params=``).

    Returns:
        ``list(module.parameters())`` when no embedding table is sparse (what any ``torch.optim``
        class takes); otherwise two groups, ``{"params": dense, "sparse": False}`` and
        ``{"params": sparse tables, "sparse": True}`` (an empty one is left out), which
        :class:`SparseEmbeddingAdam` routes to Adam and SparseAdam.
    """
    sparse = {id(p) for p in sparse_parameters(module)}
    if not sparse:
        return list(module.parameters())
    params = list(module.parameters())
    groups = [{"params": [p for p in params if id(p) not in sparse], "sparse": False},
              {"params": [p for p in params if id(p) in sparse], "sparse": True}]
    return [g for g in groups if g["params"]]


class SparseEmbeddingAdam(torch.optim.Optimizer):
    """Adam for dense parameters, SparseAdam (lazy Adam) for sparse embedding tables.

    Groups flagged ``"sparse": True`` (see :func:`parameter_groups`) are stepped by
    ``torch.optim.SparseAdam``: only the rows in the gradient update their moments and weights,
    and bias correction counts every step of the table. The other groups are stepped by
    ``torch.optim.Adam``. Both delegates work on this optimizer's own ``param_groups`` dicts and
    ``state``, so LR schedulers, ``state_dict`` / ``load_state_dict`` and Lightning's device moves
    see one ordinary optimizer.

    Weight decay: each group's ``weight_decay`` is coupled L2 (added to the gradient, as
    ``torch.optim.Adam`` does). SparseAdam has none, so for sparse groups this class adds
    ``weight_decay * row`` to the gradient of each row the batch touched before SparseAdam's
    step ("lazy" L2: rows absent from a batch are not decayed that step).

    Args:
        params: parameters or groups (:func:`parameter_groups`).
        lr: learning rate of every group.
        betas: Adam's moment coefficients.
        eps: Adam's epsilon.
        weight_decay: L2 of the dense groups.
        sparse_weight_decay: L2 of the sparse groups (of the rows each batch touches).
        sparse_embeddings: require at least one sparse group (a check: with no sparse table this
            optimizer would silently be plain Adam).

    Raises:
        ValueError: a negative setting, or no sparse group while ``sparse_embeddings`` is true.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        sparse_weight_decay: float = 0.0,
        sparse_embeddings: bool = True,
    ) -> None:
        if not 0.0 <= weight_decay or not 0.0 <= sparse_weight_decay:
            raise ValueError(f"weight_decay and sparse_weight_decay must be >= 0, got {weight_decay}, {sparse_weight_decay}")
        groups = list(params)
        if groups and isinstance(groups[0], dict):  # a sparse group's L2 is sparse_weight_decay unless it sets its own
            groups = [{"weight_decay": sparse_weight_decay, **g} if g.get("sparse") else g for g in groups]
        self._adam_settings = {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "eps": eps}
        defaults = {**self._adam_settings, "weight_decay": weight_decay, "sparse": False}
        super().__init__(groups, defaults)
        if sparse_embeddings and not any(g["sparse"] for g in self.param_groups):
            raise ValueError(
                "SparseEmbeddingAdam got no sparse embedding table: a tower needs sparse: true (the tower configs "
                "take it from optimizer.sparse_embeddings); for dense tables use optimizer=adam"
            )
        self._link()

    def _link(self) -> None:
        """(Re)build the delegates over this optimizer's groups and state (shared, not copied)."""
        self._delegates: list[torch.optim.Optimizer] = []
        for sparse, make in ((True, self._sparse_adam), (False, self._adam)):
            groups = [g for g in self.param_groups if bool(g["sparse"]) is sparse]
            if groups:
                delegate = make(groups)
                delegate.state = self.state
                self._delegates.append(delegate)

    def _sparse_adam(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return torch.optim.SparseAdam(groups, **self._adam_settings)

    def _adam(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return torch.optim.Adam(groups, **self._adam_settings)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # load_state_dict (and unpickling) replace param_groups and state: point the delegates at them
        super().__setstate__(state)
        if "_adam_settings" in self.__dict__:
            self._link()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        if "_delegates" in self.__dict__:  # after construction (e.g. a fine-tuning callback unfreezes)
            self._link()

    @torch.no_grad()
    def _decay_sparse_rows(self) -> None:
        """Coupled L2 on the touched rows of the sparse tables: grad += weight_decay * row."""
        for group in self.param_groups:
            decay = group["weight_decay"]
            if not group["sparse"] or decay == 0:
                continue
            for p in group["params"]:
                if p.grad is None or not p.grad.is_sparse:
                    continue  # a dense gradient is SparseAdam's to refuse, with its own message
                grad = p.grad.coalesce()  # one value row per table row (SparseAdam coalesces anyway)
                indices = grad.indices()
                values = p.index_select(0, indices[0]).mul_(decay).add_(grad.values())
                p.grad = torch.sparse_coo_tensor(indices, values, grad.shape, is_coalesced=True, check_invariants=False)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of every group (the closure, if given, is evaluated once, with gradients)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._decay_sparse_rows()
        for delegate in self._delegates:
            delegate.step()
        return loss
