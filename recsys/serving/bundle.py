"""The serving bundle: everything the online side needs from a trained run, in one folder.

A bundle is written from a run directory by :func:`write_bundle` (``recsys-package`` puts it in
the BentoML model store) and read by :meth:`ServingBundle.load`. Layout::

    manifest.json       format, model, similarity, temperature, sizes, run_dir, metrics
    config.yaml         the run's resolved config
    metrics.json        the run's val/test metrics
    item_vectors.npy    (n_items, D) float32 retrieval vectors (score = inner product)
    user_vectors.npy    (n_users, D) float32 retrieval vectors of the known users
    items.parquet       item_idx, movieId, title, genres, year, popularity (training ratings)
    users.parquet       user_idx, userId
    history.parquet     user_idx, item_idx, rating, timestamp: train + val, what the model knows
    index/edge/         the Qdrant Edge shard of the catalogue's item vectors, HNSW built offline

Known users are served from ``user_vectors`` with everything in ``history`` excluded, which is
exactly the offline evaluation of the test split (train and val excluded).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from recsys.retrieval.base import ItemPayload

FORMAT = 1
MANIFEST = "manifest.json"
EDGE_INDEX = "index/edge"


class BundleError(ValueError):
    """A run that cannot be packaged, or a folder that is not a serving bundle."""


@dataclass
class ServingBundle:
    """A loaded serving bundle (see the module docstring for the files).

    Attributes:
        items: DataFrame indexed by item_idx: movieId, title, genres (list), year, popularity.
        history: user_idx, item_idx, rating, timestamp (train + val).
    """

    path: Path
    manifest: dict[str, Any]
    item_vectors: np.ndarray
    user_vectors: np.ndarray
    items: pd.DataFrame
    users: pd.DataFrame
    history: pd.DataFrame
    item_by_movie: dict[int, int] = field(init=False)
    user_by_id: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.item_by_movie = {int(m): int(i) for i, m in zip(self.items.index, self.items["movieId"])}
        self.user_by_id = {int(u): int(i) for i, u in zip(self.users["user_idx"], self.users["userId"])}

    @property
    def version(self) -> str:
        """Identifies the model: cache keys carry it, so a re-index never serves stale entries."""
        return str(self.manifest["version"])

    @property
    def dim(self) -> int:
        return int(self.item_vectors.shape[1])

    @property
    def catalog(self) -> np.ndarray:
        """Item indices with training ratings: the items that can be recommended."""
        return self.items.index[self.items["popularity"] > 0].to_numpy(dtype=np.int64)

    def payload(self) -> ItemPayload:
        return ItemPayload.from_items(self.items.reset_index(), self.catalog)

    @property
    def edge_index(self) -> Path:
        return self.path / EDGE_INDEX

    @classmethod
    def load(cls, path: str | Path) -> ServingBundle:
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            raise BundleError(f"{path} is not a serving bundle (no {MANIFEST}); write one with recsys-package run_dir=<run>")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{manifest_path}: bundle format {manifest.get('format')} is not {FORMAT}; package the run again")
        items = pd.read_parquet(path / "items.parquet").set_index("item_idx").sort_index()
        items["genres"] = [list(g) if g is not None else [] for g in items["genres"]]
        return cls(
            path=path,
            manifest=manifest,
            item_vectors=np.load(path / "item_vectors.npy"),
            user_vectors=np.load(path / "user_vectors.npy"),
            items=items,
            users=pd.read_parquet(path / "users.parquet"),
            history=pd.read_parquet(path / "history.parquet"),
        )


def write_bundle(run_dir: str | Path, out_dir: str | Path, version: str, build_index: bool = True) -> Path:
    """Write the serving bundle of a trained run into the (empty or new) folder ``out_dir``.

    Args:
        run_dir: a run directory of ``train.py`` with exported embeddings (two-tower runs, their
            seed ensembles, the history tower).
        version: the model version recorded in the manifest (the BentoML tag's version).
        build_index: build and optimise the Qdrant Edge shard (HNSW) under ``index/edge``.
    """
    from recsys.retrieval.qdrant_edge import build_edge_index
    from recsys.training.build import load_split

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise BundleError(f"{run_dir} is not a run directory (no config.yaml): pass run_dir=<a run of train.py>")
    missing = [n for n in ("item_embeddings.npy", "user_embeddings.npy", "items.parquet", "metrics.json") if not (run_dir / n).exists()]
    if missing:
        raise BundleError(
            f"{run_dir} lacks {', '.join(missing)}: only runs with exported embeddings can be served "
            "(two-tower models; baselines such as EASE are not packaged yet); "
            "re-export with python eval.py run=<run> if the run was killed before exporting"
        )
    cfg = OmegaConf.load(config_path)
    item_vectors = np.load(run_dir / "item_embeddings.npy").astype(np.float32)
    user_vectors = np.load(run_dir / "user_embeddings.npy").astype(np.float32)
    data = load_split(cfg.data)
    if item_vectors.shape[0] != data.n_items or user_vectors.shape[0] != data.n_users:
        raise BundleError(
            f"{run_dir}: embeddings ({user_vectors.shape[0]} users, {item_vectors.shape[0]} items) do not match its data "
            f"({data.n_users} users, {data.n_items} items); was the data set changed since training?"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(config_path, out_dir / "config.yaml")
    shutil.copy(run_dir / "metrics.json", out_dir / "metrics.json")
    shutil.copy(run_dir / "items.parquet", out_dir / "items.parquet")
    np.save(out_dir / "item_vectors.npy", item_vectors)
    np.save(out_dir / "user_vectors.npy", user_vectors)
    pd.read_parquet(data.dataset.root / "users.parquet")[["user_idx", "userId"]].to_parquet(out_dir / "users.parquet", index=False)
    history = pd.concat([_frame(data.train), _frame(data.val)], ignore_index=True)
    history.to_parquet(out_dir / "history.parquet", index=False)
    loss = cfg.get("loss") or {}
    model = cfg.get("model") or {}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    manifest = {
        "format": FORMAT,
        "version": version,
        "run_dir": str(run_dir.resolve()),
        "model": str(model.get("_target_", "")),
        "similarity": str((model.get("similarity") or {}).get("_target_", "")),
        "loss": str(loss.get("_target_", "")),
        "temperature": float(loss.get("temperature", 0.1) or 0.1),
        "n_users": int(data.n_users),
        "n_items": int(data.n_items),
        "dim": int(item_vectors.shape[1]),
        "catalog_size": int((pd.read_parquet(out_dir / "items.parquet")["popularity"] > 0).sum()),
        "history_rows": len(history),
        "val": {k: metrics.get("val", {}).get(k) for k in ("ndcg@10", "recall@10", "coverage@10")},
        "test": {k: metrics.get("test", {}).get(k) for k in ("ndcg@10", "recall@10", "coverage@10")},
    }
    if build_index:
        bundle_items = pd.read_parquet(out_dir / "items.parquet")
        catalog = bundle_items.loc[bundle_items["popularity"] > 0, "item_idx"].to_numpy()
        build_edge_index(out_dir / EDGE_INDEX, item_vectors, ItemPayload.from_items(bundle_items, catalog))
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))  # last: a bundle with a manifest is complete
    return out_dir


def _frame(interactions: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": interactions.user_idx,
            "item_idx": interactions.item_idx,
            "rating": interactions.rating,
            "timestamp": interactions.timestamp,
        }
    )
