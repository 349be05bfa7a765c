"""A processed split held in memory as arrays and CSR matrices.

One representation shared by training (tensors cut into batches), evaluation (CSR exclusion and
relevance matrices) and the baselines (``fit(csr)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp
import torch

from recsys.data.feature_tensors import item_feature_tensor, user_feature_tensor
from recsys.data.prepare import ProcessedDataset


@dataclass(frozen=True)
class Interactions:
    """Ratings of one split as parallel arrays of length N."""

    user_idx: np.ndarray  # int64 (N,)
    item_idx: np.ndarray  # int64 (N,)
    rating: np.ndarray  # float32 (N,)
    timestamp: np.ndarray  # int64 (N,)

    @classmethod
    def read(cls, path: Path) -> Interactions:
        table = pq.read_table(path, columns=["user_idx", "item_idx", "rating", "timestamp"])
        return cls(
            user_idx=table["user_idx"].to_numpy().astype(np.int64),
            item_idx=table["item_idx"].to_numpy().astype(np.int64),
            rating=table["rating"].to_numpy().astype(np.float32),
            timestamp=table["timestamp"].to_numpy().astype(np.int64),
        )

    def __len__(self) -> int:
        return int(self.user_idx.shape[0])

    def to_csr(self, n_users: int, n_items: int, binary: bool = False) -> sp.csr_matrix:
        """Users x items matrix with the ratings (or ones) as values."""
        values = np.ones(len(self), dtype=np.float32) if binary else self.rating
        matrix = sp.csr_matrix((values, (self.user_idx, self.item_idx)), shape=(n_users, n_items), dtype=np.float32)
        matrix.sum_duplicates()
        return matrix


@dataclass
class SplitData:
    """Train, validation and test interactions of one split, with features and item metadata.

    Attributes:
        n_users, n_items: sizes of the index spaces (all users and items of the data set).
        user_features: FloatTensor (n_users, F_u), standardised, from the train split only.
        item_features: FloatTensor (n_items, F_i): genres multi-hot, year, popularity...
        items: DataFrame indexed by item_idx: movieId, title, genres, year, popularity.
        genres: the genre vocabulary (order of the multi-hot columns).
    """

    dataset: ProcessedDataset
    train: Interactions
    val: Interactions
    test: Interactions
    n_users: int
    n_items: int
    user_features: torch.Tensor
    item_features: torch.Tensor
    items: pd.DataFrame
    genres: list[str]

    @classmethod
    def load(cls, dataset: ProcessedDataset) -> SplitData:
        """Read a prepared split from disk."""
        stats = dataset.statistics
        n_users, n_items = int(stats["n_users"]), int(stats["n_movies"])
        movies = pd.read_parquet(dataset.root / "movies.parquet")
        movies = movies[movies["item_idx"].notna()].astype({"item_idx": "int64"}).set_index("item_idx").sort_index()
        genres = sorted({g for gs in movies["genres"] for g in gs})
        features_dir = dataset.split_dir / "features"
        item_table = pd.read_parquet(features_dir / "items.parquet").set_index("item_idx").sort_index()
        user_table = pd.read_parquet(features_dir / "users.parquet")
        items = movies[["movieId", "title", "genres", "year"]].copy()
        data = cls(
            dataset=dataset,
            train=Interactions.read(dataset.split_dir / "train.parquet"),
            val=Interactions.read(dataset.split_dir / "val.parquet"),
            test=Interactions.read(dataset.split_dir / "test.parquet"),
            n_users=n_users,
            n_items=n_items,
            user_features=user_feature_tensor(user_table, n_users, genres),
            item_features=item_feature_tensor(item_table, n_items, genres),
            items=items,
            genres=genres,
        )
        data.items["popularity"] = data.item_counts()[data.items.index.to_numpy()]  # one popularity: item_counts
        return data

    def item_counts(self, min_rating: float | None = None) -> np.ndarray:
        """Training interactions per item (only ratings >= ``min_rating`` if given), shape (n_items,)."""
        items = self.train.item_idx if min_rating is None else self.train.item_idx[self.train.rating >= min_rating]
        return np.bincount(items, minlength=self.n_items).astype(np.int64)

    def user_counts(self) -> np.ndarray:
        """Training interactions per user, shape (n_users,)."""
        return np.bincount(self.train.user_idx, minlength=self.n_users).astype(np.int64)

    def catalog(self) -> np.ndarray:
        """Item indices that have training interactions: the catalogue ranked in evaluation."""
        return np.flatnonzero(self.item_counts() > 0)

    def train_history(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training history as CSR tensors ``(indptr (U+1,), items (nnz,), ratings (nnz,))``."""
        csr = self.train.to_csr(self.n_users, self.n_items)
        csr.sort_indices()
        return (
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data.astype(np.float32)),
        )
