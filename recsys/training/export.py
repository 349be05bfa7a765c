"""Export retrieval embeddings and item metadata for evaluation and serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recsys.data.interactions import SplitData
from recsys.utils.atomic import atomic_file


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_file(path) as tmp:
        np.save(tmp, array)


def export_embeddings(user_vectors: torch.Tensor, item_vectors: torch.Tensor, data: SplitData, output_dir: Path) -> dict[str, Path]:
    """Write ``user_embeddings.npy`` (U, D), ``item_embeddings.npy`` (I, D) and ``items.parquet``.

    The vectors are the model's retrieval vectors (L2-normalised for cosine models), so the inner
    product of a user row and an item row is the model's score. ``items.parquet`` has one row per
    item index: ``item_idx, movieId, title, genres, year, popularity`` (training interactions).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "user_embeddings": output_dir / "user_embeddings.npy",
        "item_embeddings": output_dir / "item_embeddings.npy",
        "items": output_dir / "items.parquet",
    }
    _save_npy(paths["user_embeddings"], user_vectors.detach().float().cpu().numpy())
    _save_npy(paths["item_embeddings"], item_vectors.detach().float().cpu().numpy())
    items = data.items.reset_index()
    with atomic_file(paths["items"]) as tmp:
        items.to_parquet(tmp, index=False)
    return paths
