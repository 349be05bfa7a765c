"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via the `implicit` library."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from recsys.models.base import FittedBaseline, as_train_matrix

__all__ = ["ALSRecommender", "available_cpus"]


def available_cpus() -> int:
    """Number of CPU cores this process may run on (respects affinity masks / cgroups cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """implicit parallelises over users itself; a multi-threaded BLAS underneath only slows it."""
    try:
        from threadpoolctl import threadpool_limits  # a dependency of implicit
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _implicit_als_class(use_gpu: bool) -> type:
    """The CPU or CUDA ``AlternatingLeastSquares`` class of `implicit` (clear ImportError)."""
    try:
        import implicit.gpu
    except ImportError as err:
        raise ImportError(
            "ALSRecommender needs the `implicit` package: pip install implicit"
        ) from err
    if use_gpu:
        if not implicit.gpu.HAS_CUDA:
            raise RuntimeError("use_gpu=True but this `implicit` build has no CUDA support")
        from implicit.gpu.als import AlternatingLeastSquares as GpuALS

        return GpuALS
    from implicit.cpu.als import AlternatingLeastSquares as CpuALS

    return CpuALS


class ALSRecommender(FittedBaseline):
    """Weighted matrix factorisation for implicit feedback, fitted by alternating least squares.

    Minimises ``sum_{u,i} c_ui (p_ui - U_u . V_i)^2 + regularization (|U|^2 + |V|^2)`` with
    preference ``p_ui = 1`` for observed pairs (0 otherwise) and confidence
    ``c_ui = 1 + alpha * r_ui`` for observed pairs (1 otherwise), where ``r_ui`` is 1 when
    ``binarize`` (the default) or the rating itself. ``score(u) = U_u @ V^T``.

    The confidence matrix is built here and passed to `implicit` with its own ``alpha=1``, because
    `implicit` treats a stored value ``v`` as the total confidence ``c_ui = v`` (it does *not* add
    the 1).

    Args:
        factors: latent dimension D.
        regularization: L2 weight on the factors.
        iterations: ALS sweeps.
        alpha: confidence slope.
        seed: seed of the random factor initialisation.
        binarize: confidence from binarised interactions (True) or from rating values (False).
        use_gpu: fit with `implicit`'s CUDA solver (needs a CUDA build of `implicit`).
        num_threads: CPU threads of the solver; 0 = every core available to this process.
    """

    _hparams = (
        "factors", "regularization", "iterations", "alpha", "seed", "binarize", "use_gpu",
        "num_threads",
    )

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        iterations: int = 15,
        alpha: float = 40.0,
        seed: int = 0,
        binarize: bool = True,
        use_gpu: bool = False,
        num_threads: int = 0,
    ) -> None:
        super().__init__()
        if int(factors) < 1 or int(iterations) < 1:
            raise ValueError(f"factors and iterations must be >= 1, got {factors}, {iterations}")
        if float(alpha) < 0 or float(regularization) < 0:
            raise ValueError(f"alpha, regularization must be >= 0, got {alpha}, {regularization}")
        self.factors, self.iterations = int(factors), int(iterations)
        self.regularization, self.alpha = float(regularization), float(alpha)
        self.seed, self.binarize = int(seed), bool(binarize)
        self.use_gpu, self.num_threads = bool(use_gpu), int(num_threads)
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None

    def fit(self, train: sp.csr_matrix) -> None:
        """Fit user and item factors.

        Args:
            train: users x items CSR matrix of ratings, 0 = unobserved.
        """
        conf = as_train_matrix(train, binarize=self.binarize)
        conf.data = (1.0 + self.alpha * conf.data).astype(np.float32)
        threads = self.num_threads if self.num_threads > 0 else available_cpus()
        als_class = _implicit_als_class(self.use_gpu)  # import before limiting BLAS threads
        kwargs: dict[str, Any] = {"num_threads": threads} if not self.use_gpu else {}
        with _single_threaded_blas():
            model = als_class(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,
                iterations=self.iterations,
                random_state=self.seed,
                **kwargs,
            )
            model.fit(conf, show_progress=False)
        user_f, item_f = model.user_factors, model.item_factors
        if self.use_gpu:
            user_f, item_f = user_f.to_numpy(), item_f.to_numpy()
        self._set_shape(conf)
        self.user_factors = np.ascontiguousarray(user_f, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_f, dtype=np.float32)

    def user_vectors(self) -> torch.Tensor:
        """User factors, float32 tensor of shape (n_users, factors)."""
        self._require_fitted()
        return torch.from_numpy(self.user_factors.copy())

    def item_vectors(self) -> torch.Tensor:
        """Item factors, float32 tensor of shape (n_items, factors)."""
        self._require_fitted()
        return torch.from_numpy(self.item_factors.copy())

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def _state(self) -> dict[str, np.ndarray | sp.csr_matrix]:
        state = {"user_factors": self.user_factors, "item_factors": self.item_factors}
        return {**super()._state(), **state}

    def _set_state(self, state: dict[str, np.ndarray | sp.csr_matrix]) -> None:
        super()._set_state(state)
        self.user_factors = np.asarray(state["user_factors"], dtype=np.float32)
        self.item_factors = np.asarray(state["item_factors"], dtype=np.float32)
