"""The `Recommender` contract shared by baselines and neural models, plus `FittedBaseline`.

A recommender scores users against the whole catalogue:

- ``fit(train)`` takes a users x items ``scipy.sparse.csr_matrix`` of float32 ratings where 0 means
  unobserved (neural models are fitted by the LightningModule and may make this a no-op);
- ``score(user_idx)`` maps a ``LongTensor`` of shape (B,) to a float32 tensor of shape
  (B, n_items), higher = better. Training items are *not* masked: evaluation does that.

Models with latent factors also implement `HasFactors` so that evaluation can search with faiss.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import scipy.sparse as sp
import torch

from recsys.utils.atomic import atomic_file

__all__ = ["FittedBaseline", "HasFactors", "Recommender", "as_train_matrix"]

_T = TypeVar("_T", bound="FittedBaseline")
_PARAMS_KEY = "__params__"
_CLASS_KEY = "__class__"
_SPARSE_PARTS = ("data", "indices", "indptr", "shape")


@runtime_checkable
class Recommender(Protocol):
    """Anything that can be fitted on a rating matrix and score users against all items."""

    def fit(self, train: sp.csr_matrix) -> None:
        """Fit on a users x items CSR matrix of float32 ratings (0 = unobserved)."""
        ...

    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Score users: LongTensor (B,) -> FloatTensor (B, n_items), higher = better."""
        ...


@runtime_checkable
class HasFactors(Protocol):
    """A factor model whose scores are ``user_vectors() @ item_vectors().T``."""

    def user_vectors(self) -> torch.Tensor:
        """User factors, float32 tensor of shape (n_users, D)."""
        ...

    def item_vectors(self) -> torch.Tensor:
        """Item factors, float32 tensor of shape (n_items, D)."""
        ...


def as_train_matrix(train: sp.spmatrix | sp.sparray, binarize: bool = False) -> sp.csr_matrix:
    """Validate and copy a training matrix into a canonical float32 CSR matrix.

    Explicit zeros are dropped, duplicate entries summed and indices sorted. The caller's matrix is
    never modified.

    Args:
        train: users x items sparse matrix of ratings, 0 = unobserved.
        binarize: replace every stored rating by 1.0.

    Returns:
        A new ``csr_matrix`` of shape (n_users, n_items), dtype float32.

    Raises:
        TypeError: if ``train`` is not a scipy sparse matrix.
        ValueError: if it is not 2-D or holds non-finite values.
    """
    if not sp.issparse(train):
        raise TypeError(f"train must be a scipy.sparse matrix (users x items), got {type(train)!r}")
    x = sp.csr_matrix(train, dtype=np.float32, copy=True)
    if x.ndim != 2:
        raise ValueError(f"train must be 2-D (users x items), got shape {x.shape}")
    x.sum_duplicates()
    x.eliminate_zeros()
    x.sort_indices()
    if not np.isfinite(x.data).all():
        raise ValueError("train holds non-finite ratings (NaN or inf)")
    if binarize:
        x.data[:] = 1.0
    return x


class FittedBaseline(ABC):
    """Base class for non-neural baselines: index checks and an npz ``save``/``load`` round-trip.

    Subclasses keep their constructor arguments in attributes of the same name and list them in
    ``_hparams``; they put their fitted arrays in ``_state()`` and restore them in ``_set_state``.
    Sparse matrices in the state are stored as their CSR parts.
    """

    _hparams: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.n_users: int | None = None
        self.n_items: int | None = None

    # -- contract ---------------------------------------------------------------------------
    @abstractmethod
    def fit(self, train: sp.csr_matrix) -> None:
        """Fit on a users x items CSR matrix of ratings (0 = unobserved)."""

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Scores for validated user indices (B,) -> float32 array (B, n_items)."""

    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Score users against every item.

        Args:
            user_idx: LongTensor of shape (B,) with user indices in ``[0, n_users)``.

        Returns:
            Float32 tensor of shape (B, n_items) on the CPU; higher = better. Training items are
            not masked.

        Raises:
            RuntimeError: if the model is not fitted.
            IndexError: if a user index is outside the fitted range.
        """
        users = self._check_users(user_idx)
        scores = np.asarray(self._score(users), dtype=np.float32)
        if not (scores.flags.c_contiguous and scores.flags.writeable and scores.flags.owndata):
            scores = np.array(scores, dtype=np.float32, order="C")  # never alias model state
        return torch.from_numpy(scores)

    # -- helpers ----------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or ``load``) has run."""
        return self.n_items is not None

    def _set_shape(self, train: sp.csr_matrix) -> None:
        self.n_users, self.n_items = (int(n) for n in train.shape)

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(train) first")

    def _check_users(self, user_idx: torch.Tensor | np.ndarray) -> np.ndarray:
        self._require_fitted()
        if isinstance(user_idx, torch.Tensor):
            user_idx = user_idx.detach().cpu().numpy()
        users = np.asarray(user_idx).reshape(-1)
        if users.size and not np.issubdtype(users.dtype, np.integer):
            raise TypeError(f"user_idx must hold integers, got {users.dtype}")
        users = users.astype(np.int64, copy=False)
        if users.size and (users.min() < 0 or users.max() >= self.n_users):
            raise IndexError(
                f"user index out of range [0, {self.n_users}): min {users.min()}, max {users.max()}"
            )
        return users

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (the hyper-parameters), as a JSON-serialisable dict."""
        return {name: getattr(self, name) for name in self._hparams}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- persistence ------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray | sp.csr_matrix]:
        """Fitted arrays to save; subclasses extend this."""
        return {"shape": np.array([self.n_users, self.n_items], dtype=np.int64)}

    def _set_state(self, state: dict[str, np.ndarray | sp.csr_matrix]) -> None:
        """Restore what ``_state`` returned; subclasses extend this."""
        self.n_users, self.n_items = (int(n) for n in state["shape"])

    def save(self, path: str | Path) -> None:
        """Write hyper-parameters and fitted state to one uncompressed ``.npz`` file at ``path``."""
        self._require_fitted()
        arrays: dict[str, np.ndarray] = {
            _CLASS_KEY: np.array(type(self).__name__),
            _PARAMS_KEY: np.array(json.dumps(self.get_params())),
        }
        for key, value in self._state().items():
            if sp.issparse(value):
                csr = sp.csr_matrix(value)
                for part in _SPARSE_PARTS:
                    arrays[f"{key}/{part}"] = np.asarray(getattr(csr, part))
            else:
                arrays[key] = np.asarray(value)
        with atomic_file(Path(path)) as tmp, tmp.open("wb") as f:  # a handle stops numpy appending ".npz"
            np.savez(f, **arrays)

    @classmethod
    def load(cls: type[_T], path: str | Path) -> _T:
        """Rebuild a fitted model written by ``save``.

        Raises:
            ValueError: if the file was saved by another model class.
        """
        with np.load(Path(path), allow_pickle=False) as npz:
            saved_class = str(npz[_CLASS_KEY])
            if saved_class != cls.__name__:
                raise ValueError(f"{path} holds a {saved_class}, not a {cls.__name__}")
            model = cls(**json.loads(str(npz[_PARAMS_KEY])))
            state: dict[str, np.ndarray | sp.csr_matrix] = {}
            for key in npz.files:
                if key in (_CLASS_KEY, _PARAMS_KEY):
                    continue
                if key.endswith("/data"):
                    name = key[: -len("/data")]
                    parts = [npz[f"{name}/{p}"] for p in _SPARSE_PARTS]
                    state[name] = sp.csr_matrix(tuple(parts[:3]), shape=tuple(parts[3]))
                elif "/" not in key:
                    state[key] = npz[key]
        model._set_state(state)
        return model
