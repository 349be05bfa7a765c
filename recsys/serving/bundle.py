"""The serving bundle: everything the online side needs from a trained run, in one folder.

A bundle is written from a run directory by :func:`write_bundle` (``recsys-package`` puts it in
the BentoML model store) and read by :meth:`ServingBundle.load`. Layout::

    manifest.json       format, kind, model, similarity, temperature, sizes, run_dir, metrics
    config.yaml         the run's resolved config
    metrics.json        the run's val/test metrics
    item_vectors.npy    (n_items, D) float32 retrieval vectors (score = inner product)
    user_vectors.npy    (n_users, D) float32 retrieval vectors of the known users
    items.parquet       item_idx, movieId, title, genres, year, popularity (training ratings)
    users.parquet       user_idx, userId
    history.parquet     user_idx, item_idx, rating, timestamp: train + val, what the model knows
    tags.parquet        item_idx, tag, rank: each movie's most frequent tags (where the data set has tags)
    index/edge/         the Qdrant Edge shard of the catalogue's item vectors, HNSW built offline

Known users are served from ``user_vectors`` with everything in ``history`` excluded, which is
exactly the offline evaluation of the test split (train and val excluded).

Two kinds of run are packaged, recorded as the manifest's ``kind``:

* ``embedding``: a run with exported retrieval vectors (two-tower models, the history tower, seed
  ensembles); D is the embedding size and a new user's vector is folded in.
* ``item_item``: an EASE run (``model.npz``), whose score ``x_u @ B`` is written as an inner
  product: ``item_vectors[j] = B[:, j]`` and ``user_vectors[u] = x_u``, the user's training row as
  the model was fitted (binary, or the ratings). D = n_items, so there is no Edge index (serve with
  the exact retriever); a new user's vector is their interaction row (:meth:`ServingBundle.interaction_row`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from hydra.utils import execution_whitelist, get_class
from omegaconf import DictConfig, OmegaConf

import recsys
from recsys.retrieval.base import ItemPayload

FORMAT = 1
MANIFEST = "manifest.json"
EDGE_INDEX = "index/edge"
HISTORY_TOWER = "history_tower.pt"
EMBEDDING, ITEM_ITEM = "embedding", "item_item"
TAGS_PER_ITEM = 5
PACKAGED = "two-tower runs (incl. the history tower and seed ensembles) and EASE"


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
    history_tower: Any = None  # {"tower": HistoryUserTower, "similarity": ...} for history-tower runs
    tags: dict[int, tuple[str, ...]] = field(default_factory=dict)  # item_idx -> tags, most frequent first
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
    def kind(self) -> str:
        """``embedding`` or ``item_item`` (bundles written before kinds existed are embeddings)."""
        return str(self.manifest.get("kind", EMBEDDING))

    def interaction_row(self, items: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """The (n_items,) float32 row ``x`` of an item-item model for a user who rated ``items``.

        Built as the model's training rows are (1 per rated item when it was fitted binary, else
        the rating), so ``x @ B`` (the inner products with ``item_vectors``) is the model's score.

        Args:
            items: (R,) item_idx; ratings: (R,) their ratings.
        """
        if self.kind != ITEM_ITEM:
            raise BundleError(f"{self.path} holds {self.kind} vectors: only an item_item bundle has interaction rows")
        row = np.zeros(self.dim, dtype=np.float32)
        row[np.asarray(items, dtype=np.int64)] = 1.0 if self.manifest["binarize"] else np.asarray(ratings, dtype=np.float32)
        return row

    @property
    def catalog(self) -> np.ndarray:
        """Item indices with training ratings: the items that can be recommended."""
        return self.items.index[self.items["popularity"] > 0].to_numpy(dtype=np.int64)

    def payload(self) -> ItemPayload:
        return ItemPayload.from_items(self.items.reset_index(), self.catalog)

    def embed_history(self, items: np.ndarray, ratings: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """A history-tower run's retrieval vector (D,) of one user from rated items, by the trained
        tower itself (no optimisation). A tower built with user features gets ``features`` (F,),
        or zeros for a new user: the features are standardised, so zero is the average user."""
        tower, similarity = self.history_tower["tower"], self.history_tower["similarity"]
        feats = None
        if tower.feature_projection is not None:
            width = int(tower.features.shape[1])
            feats = torch.zeros(1, width) if features is None else torch.as_tensor(features, dtype=torch.float32).reshape(1, width)
        with torch.no_grad():
            vector = tower.embed_history(
                torch.as_tensor(np.asarray(items), dtype=torch.long),
                torch.as_tensor(np.asarray(ratings), dtype=torch.float32),
                torch.zeros(1, dtype=torch.long),
                features=feats,
            )
            return similarity.prepare(vector)[0].numpy().astype(np.float32)

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
        tower_path = path / HISTORY_TOWER
        history_tower = torch.load(tower_path, map_location="cpu", weights_only=False) if tower_path.exists() else None
        tags: dict[int, tuple[str, ...]] = {}
        if (path / "tags.parquet").exists():
            frame = pd.read_parquet(path / "tags.parquet").sort_values(["item_idx", "rank"])
            tags = {int(i): tuple(group["tag"]) for i, group in frame.groupby("item_idx", sort=False)}
        return cls(
            tags=tags,
            path=path,
            manifest=manifest,
            history_tower=history_tower,
            item_vectors=np.load(path / "item_vectors.npy"),
            user_vectors=np.load(path / "user_vectors.npy"),
            items=items,
            users=pd.read_parquet(path / "users.parquet"),
            history=pd.read_parquet(path / "history.parquet"),
        )


def write_bundle(run_dir: str | Path, out_dir: str | Path, version: str, build_index: bool = True) -> Path:
    """Write the serving bundle of a trained run into the (empty or new) folder ``out_dir``.

    Args:
        run_dir: a run directory of ``train.py``: with exported embeddings (two-tower runs, their
            seed ensembles, the history tower) or an EASE ``model.npz``.
        version: the model version recorded in the manifest (the BentoML tag's version).
        build_index: build and optimise the Qdrant Edge shard (HNSW) under ``index/edge``
            (embedding bundles only: an item-item bundle's n_items-d vectors are searched exactly).
    """
    from recsys.retrieval.qdrant_edge import build_edge_index
    from recsys.training.build import load_split

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise BundleError(f"{run_dir} is not a run directory (no config.yaml): pass run_dir=<a run of train.py>")
    if not (run_dir / "metrics.json").exists():
        raise BundleError(f"{run_dir} lacks metrics.json: the run did not finish; train it again")
    cfg = OmegaConf.load(config_path)
    vectors = _item_item_vectors(run_dir, cfg) if (run_dir / "model.npz").exists() else _embedding_vectors(run_dir, cfg)
    data = load_split(cfg.data)
    items = vectors.items if vectors.items is not None else data.items.reset_index()
    if vectors.item.shape[0] != data.n_items or vectors.user.shape[0] != data.n_users:
        raise BundleError(
            f"{run_dir}: vectors ({vectors.user.shape[0]} users, {vectors.item.shape[0]} items) do not match its data "
            f"({data.n_users} users, {data.n_items} items); was the data set changed since training?"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(config_path, out_dir / "config.yaml")
    shutil.copy(run_dir / "metrics.json", out_dir / "metrics.json")
    items.to_parquet(out_dir / "items.parquet", index=False)
    np.save(out_dir / "item_vectors.npy", vectors.item)
    np.save(out_dir / "user_vectors.npy", vectors.user)
    pd.read_parquet(data.dataset.root / "users.parquet")[["user_idx", "userId"]].to_parquet(out_dir / "users.parquet", index=False)
    history = pd.concat([_frame(data.train), _frame(data.val)], ignore_index=True)
    history.to_parquet(out_dir / "history.parquet", index=False)
    if (data.dataset.root / "tags.parquet").exists():
        top_tags(pd.read_parquet(data.dataset.root / "tags.parquet"), items).to_parquet(out_dir / "tags.parquet", index=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    manifest = {
        "format": FORMAT,
        "kind": vectors.kind,
        "version": version,
        "run_dir": str(run_dir.resolve()),
        "model": str((cfg.get("model") or {}).get("_target_", "")),
        **vectors.manifest,
        "n_users": int(data.n_users),
        "n_items": int(data.n_items),
        "dim": int(vectors.item.shape[1]),
        "catalog_size": int((items["popularity"] > 0).sum()),
        "history_rows": len(history),
        "val": {k: metrics.get("val", {}).get(k) for k in ("ndcg@10", "recall@10", "coverage@10")},
        "test": {k: metrics.get("test", {}).get(k) for k in ("ndcg@10", "recall@10", "coverage@10")},
    }
    if vectors.kind == EMBEDDING and _is_history_tower(cfg):
        _save_history_tower(run_dir, data, out_dir / HISTORY_TOWER)
        manifest["profiles"] = "history_tower"  # new users are embedded by the trained tower
    if build_index and vectors.kind == EMBEDDING:
        catalog = items.loc[items["popularity"] > 0, "item_idx"].to_numpy()
        build_edge_index(out_dir / EDGE_INDEX, vectors.item, ItemPayload.from_items(items, catalog))
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))  # last: a bundle with a manifest is complete
    return out_dir


def top_tags(tags: pd.DataFrame, items: pd.DataFrame, per_item: int = TAGS_PER_ITEM) -> pd.DataFrame:
    """Each movie's ``per_item`` most frequent tags (by how many users gave them; ties alphabetical).

    Args:
        tags: the data set's tags (``userId``, ``movieId``, ``tag``); compared lower-cased and trimmed.
        items: ``item_idx``, ``movieId`` (movies without an item_idx are dropped).

    Returns:
        ``item_idx``, ``tag`` (lower case), ``rank`` (0 = most frequent).
    """
    frame = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    frame = frame[frame["tag"].str.len() > 0].merge(items[["item_idx", "movieId"]], on="movieId")
    counts = frame.groupby(["item_idx", "tag"])["userId"].nunique().rename("users").reset_index()
    counts = counts.sort_values(["item_idx", "users", "tag"], ascending=[True, False, True])
    counts["rank"] = counts.groupby("item_idx").cumcount()
    return counts[counts["rank"] < per_item][["item_idx", "tag", "rank"]].astype({"item_idx": "int32", "rank": "int16"})


@dataclass(frozen=True)
class _RunVectors:
    """What a run contributes to its bundle: vectors (float32), item metadata, manifest fields."""

    kind: str
    user: np.ndarray  # (n_users, D)
    item: np.ndarray  # (n_items, D)
    items: pd.DataFrame | None  # item_idx, movieId, title, genres, year, popularity; None: the data set's
    manifest: dict[str, Any]


def _embedding_vectors(run_dir: Path, cfg: DictConfig) -> _RunVectors:
    """The exported retrieval vectors of a two-tower run (or its seed ensemble)."""
    missing = [n for n in ("item_embeddings.npy", "user_embeddings.npy", "items.parquet") if not (run_dir / n).exists()]
    if missing:
        raise BundleError(
            f"{run_dir} lacks {', '.join(missing)}: packaged are {PACKAGED}; "
            "re-export with python eval.py run=<run> if the run was killed before exporting"
        )
    loss = cfg.get("loss") or {}
    return _RunVectors(
        kind=EMBEDDING,
        user=np.load(run_dir / "user_embeddings.npy").astype(np.float32),
        item=np.load(run_dir / "item_embeddings.npy").astype(np.float32),
        items=pd.read_parquet(run_dir / "items.parquet"),
        manifest={
            "similarity": str(((cfg.get("model") or {}).get("similarity") or {}).get("_target_", "")),
            "loss": str(loss.get("_target_", "")),
            "temperature": float(loss.get("temperature", 0.1) or 0.1),
        },
    )


def _item_item_vectors(run_dir: Path, cfg: DictConfig) -> _RunVectors:
    """EASE's ``x_u @ B`` as inner products: user rows ``x_u`` (as fitted), item vectors ``B[:, j]``."""
    from recsys.models.baselines.ease import EASERecommender

    with execution_whitelist(list(recsys.TRUSTED_TARGETS)):
        model_class = get_class(cfg.model._target_)
    if not issubclass(model_class, EASERecommender):
        raise BundleError(f"{run_dir}: {model_class.__name__} runs are not packaged yet: packaged are {PACKAGED}")
    model = model_class.load(run_dir / "model.npz")
    return _RunVectors(
        kind=ITEM_ITEM,
        user=model.x.toarray().astype(np.float32, copy=False),  # the rows model.score multiplies by B
        item=np.ascontiguousarray(model.weights.T, dtype=np.float32),  # item_vectors[j] = B[:, j]
        items=None,
        manifest={"binarize": bool(model.binarize), "l2": float(model.l2)},
    )


def _frame(interactions: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": interactions.user_idx,
            "item_idx": interactions.item_idx,
            "rating": interactions.rating,
            "timestamp": interactions.timestamp,
        }
    )


def _is_history_tower(cfg: DictConfig) -> bool:
    target = str((cfg.get("user_tower") or {}).get("_target_", ""))
    return target.endswith("HistoryUserTower") and not cfg.get("ensemble_seeds")


def _save_history_tower(run_dir: Path, data: Any, path: Path) -> None:
    """The trained user tower and similarity of a history-tower run (its best checkpoint), pickled."""
    from recsys.lit.two_tower_module import TwoTowerModule

    metrics = json.loads((run_dir / "metrics.json").read_text())
    checkpoint = Path(metrics.get("best_checkpoint") or run_dir / "checkpoints" / "last.ckpt")
    if not checkpoint.exists():
        raise BundleError(f"{run_dir}: the history tower's checkpoint {checkpoint} is missing; train the run again")
    model = TwoTowerModule.load_from_checkpoint(checkpoint, map_location="cpu", split_data=data).model.eval()
    torch.save({"tower": model.user_tower, "similarity": model.similarity}, path)
