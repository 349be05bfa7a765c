"""Feature tables (from ``features/*.parquet``) to standardised float tensors for the towers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

USER_NUMERIC = ["rating_mean", "rating_std", "rating_count", "rating_range", "ratings_per_month", "days_since_last"]
ITEM_NUMERIC = ["log_popularity", "rating_mean", "rating_std", "rating_trend", "year"]
LOG_SCALED = {"rating_count", "ratings_per_month", "days_since_last"}


def _standardise(values: np.ndarray) -> np.ndarray:
    """Column-wise z-score ignoring NaN; NaN (missing) becomes 0 = the mean."""
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    std[~np.isfinite(std) | (std == 0)] = 1.0
    mean[~np.isfinite(mean)] = 0.0
    return np.nan_to_num((values - mean) / std, nan=0.0)


def multi_hot(lists: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """Genre lists to a (len(lists), len(vocabulary)) 0/1 matrix."""
    lengths = lists.map(len).to_numpy()
    flat = lists.explode().dropna().to_numpy()
    rows = np.repeat(np.arange(len(lists)), lengths)
    cols = pd.Categorical(flat, categories=vocabulary).codes.astype(np.int64)
    keep = cols >= 0
    out = np.zeros((len(lists), len(vocabulary)), dtype=np.float32)
    out[rows[keep], cols[keep]] = 1.0
    return out


def _numeric(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    values = table[columns].astype("float64").to_numpy()
    for j, column in enumerate(columns):
        if column in LOG_SCALED:
            values[:, j] = np.log1p(np.clip(values[:, j], 0, None))
    return _standardise(values)


def user_feature_tensor(table: pd.DataFrame, n_users: int, genres: list[str]) -> torch.Tensor:
    """Users' numeric features (standardised) and top-3 genres (multi-hot).

    Users without training ratings get zeros (the mean).

    Returns:
        FloatTensor of shape (n_users, len(USER_NUMERIC) + len(genres)).
    """
    out = np.zeros((n_users, len(USER_NUMERIC) + len(genres)), dtype=np.float32)
    if len(table):
        rows = table["user_idx"].to_numpy().astype(np.int64)
        out[rows, : len(USER_NUMERIC)] = _numeric(table, USER_NUMERIC)
        out[rows, len(USER_NUMERIC) :] = multi_hot(table["top_genres"], genres)
    return torch.from_numpy(out)


def item_feature_tensor(table: pd.DataFrame, n_items: int, genres: list[str]) -> torch.Tensor:
    """Items' numeric features (standardised, missing year = mean) and genres (multi-hot).

    Args:
        table: ``features/items.parquet`` indexed by item_idx.

    Returns:
        FloatTensor of shape (n_items, len(ITEM_NUMERIC) + len(genres)).
    """
    out = np.zeros((n_items, len(ITEM_NUMERIC) + len(genres)), dtype=np.float32)
    rows = table.index.to_numpy().astype(np.int64)
    out[rows, : len(ITEM_NUMERIC)] = _numeric(table, ITEM_NUMERIC)
    out[rows, len(ITEM_NUMERIC) :] = multi_hot(table["genres"], genres)
    return torch.from_numpy(out)
