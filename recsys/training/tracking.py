"""What a finished run logs to Weights & Biases, beyond Lightning's per-epoch curves.

:func:`log_run` is called once per run (rank 0) after ``metrics.json`` is written. It logs the
resolved config, the final val/test metrics (run summary ``final/<split>/<metric>``), the test
metrics by user-activity bucket as a table, and the run's files (best checkpoint or ``model.npz``,
exported embeddings, item metadata, ``metrics.json``, ``config.yaml``) as a versioned ``model``
artifact with the alias ``best``. For models with retrieval vectors (two-tower, MF) it adds the
val NDCG@10-vs-Coverage@10 curve of a popularity-penalty re-ranker, a 2-D PCA projection of the
item vectors coloured by genre, and the top-10 (with titles) of a few val users.

Inside a Hydra sweep the run joins the group named after the study (``group``), so a sweep's trials
sit together in the W&B UI. Tracking never fails a run: any error becomes a warning, and the run
is finished so that the next trial of an in-process sweep starts a run of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# re-ranking strengths of the per-run NDCG-vs-coverage curve, in units of the score gap
CURVE_STRENGTHS = (0.0, 0.1, 0.3, 0.5, 1.0, 2.0)
TOP_USERS = 5
PROJECTED_ITEMS = 3000


def wandb_run(objects: dict[str, Any]):
    """The live W&B run of this training run (its Lightning ``WandbLogger``), else ``None``."""
    for logger in objects.get("loggers") or []:
        if type(logger).__name__ == "WandbLogger":
            return logger.experiment
    return None


def by_activity_rows(metrics: dict[str, Any], k: int = 10) -> tuple[list[str], list[list]]:
    """Columns and rows of the test metrics by activity bucket (empty buckets left out)."""
    from recsys.evaluation.metrics import METRIC_NAMES

    names = [f"{m}@{k}" for m in METRIC_NAMES]
    rows = [
        [bucket, int(values.get("n_users") or 0), *(values.get(n) for n in names)]
        for bucket, values in (metrics.get("test_by_activity") or {}).items()
        if values.get("n_users")
    ]
    return ["bucket", "n_users", *names], rows


def coverage_curve(data, users: torch.Tensor, items: torch.Tensor, protocol) -> list[dict[str, float]]:
    """Val NDCG@10 and Coverage@10 under popularity-penalty re-ranking of growing strength."""
    from recsys.evaluation.evaluate import build_task, evaluate_vectors
    from recsys.evaluation.rerank import NoRerank, PopularityPenaltyReranker
    from recsys.reports.coverage_curve import score_gap

    task = build_task(data, "val", protocol)
    gap = score_gap(task, users, items)
    rows = []
    for strength in CURVE_STRENGTHS:
        reranker = PopularityPenaltyReranker(strength * gap, 100) if strength else NoRerank()
        report, _ = evaluate_vectors(task, data, users, items, reranker=reranker)
        rows.append({"strength": strength, "ndcg@10": report.overall["ndcg@10"], "coverage@10": report.overall["coverage@10"]})
    return rows


def curve_figure(rows: list[dict[str, float]]):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot([r["coverage@10"] for r in rows], [r["ndcg@10"] for r in rows], marker="o")
    for r in rows:
        axes.annotate(f"{r['strength']:g}", (r["coverage@10"], r["ndcg@10"]), fontsize=7)
    axes.set_xlabel("val Coverage@10")
    axes.set_ylabel("val NDCG@10")
    axes.set_title("popularity penalty (x score gap)")
    figure.tight_layout()
    return figure


def projection_figure(items: torch.Tensor, data, seed: int = 0):
    """PCA of the catalogue's item vectors, coloured by each movie's first genre."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    catalog = np.asarray(data.catalog())
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(catalog, size=min(PROJECTED_ITEMS, len(catalog)), replace=False))
    points = PCA(n_components=2, random_state=seed).fit_transform(items[chosen].numpy())
    first_genre = data.items.loc[chosen, "genres"].fillna("").astype(str).str.split("|").str[0].replace("", "(none)")
    top = list(first_genre.value_counts().index[:9])
    labels = first_genre.where(first_genre.isin(top), "other").to_numpy()
    figure, axes = plt.subplots(figsize=(6, 5))
    for genre in [*top, "other"]:
        mask = labels == genre
        axes.scatter(points[mask, 0], points[mask, 1], s=4, label=genre, alpha=0.6)
    axes.legend(markerscale=3, fontsize=7)
    axes.set_title("item vectors, PCA (first genre)")
    figure.tight_layout()
    return figure


def top10_rows(data, users: torch.Tensor, items: torch.Tensor, protocol) -> tuple[list[str], list[list]]:
    """The top-10 of the first few val users, with titles and genres."""
    from recsys.evaluation.evaluate import as_numpy_items, build_task
    from recsys.evaluation.topk import topk_from_embeddings

    task = build_task(data, "val", protocol)
    chosen = task.users[:TOP_USERS]
    catalog_vectors = items[torch.as_tensor(task.catalog)]
    top = topk_from_embeddings(users[chosen], catalog_vectors, 10, exclude=task.exclude[chosen.numpy()])
    item_ids = as_numpy_items(task, top)
    rows = []
    for user, ranked in zip(chosen.tolist(), item_ids):
        for rank, item in enumerate(ranked, start=1):
            meta = data.items.loc[int(item)]
            score = float(users[user] @ items[int(item)])
            rows.append([user, rank, str(meta["title"]), str(meta["genres"]), score])
    return ["user_idx", "rank", "title", "genres", "score"], rows


def artifact_files(metrics: dict[str, Any], output_dir: Path) -> list[Path]:
    """The files of the run's model artifact that exist."""
    names = ["config.yaml", "metrics.json", "model.npz", "user_embeddings.npy", "item_embeddings.npy", "items.parquet"]
    files = [output_dir / n for n in names if (output_dir / n).exists()]
    best = metrics.get("best_checkpoint")
    if best and Path(best).exists():
        files.append(Path(best))
    return files


def log_run(cfg: DictConfig, metrics: dict[str, Any], objects: dict[str, Any], output_dir: Path) -> None:
    """Log the finished run to its W&B run (if W&B is on for it) and finish that run."""
    run = wandb_run(objects)
    if run is None:
        return
    try:
        import matplotlib.pyplot as plt
        import wandb

        run.config.update(OmegaConf.to_container(cfg, resolve=True), allow_val_change=True)
        run.summary.update({
            f"final/{split}/{name}": value
            for split in ("val", "test")
            for name, value in (metrics.get(split) or {}).items()
            if isinstance(value, (int, float))
        })  # fmt: skip
        columns, rows = by_activity_rows(metrics)
        run.log({"test_by_activity": wandb.Table(columns=columns, data=rows)})
        model = objects.get("model")
        if hasattr(model, "retrieval_vectors"):
            from hydra.utils import instantiate

            users, items = (v.detach().float().cpu() for v in model.retrieval_vectors())
            data, protocol = objects["data"], instantiate(cfg.eval)
            curve = coverage_curve(data, users, items, protocol)
            run.log({"ndcg_vs_coverage": wandb.Table(columns=list(curve[0]), data=[list(r.values()) for r in curve])})
            for key, figure in (("ndcg_vs_coverage_plot", curve_figure(curve)), ("item_embeddings_pca", projection_figure(items, data))):
                run.log({key: wandb.Image(figure)})
                plt.close(figure)
            columns, rows = top10_rows(data, users, items, protocol)
            run.log({"val_top10": wandb.Table(columns=columns, data=rows)})
        artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata={"val": metrics.get("val"), "test": metrics.get("test")})
        for path in artifact_files(metrics, output_dir):
            artifact.add_file(str(path), name=path.name if path.parent == output_dir else f"checkpoints/{path.name}")
        run.log_artifact(artifact, aliases=["best", "latest"])
    except Exception as error:  # noqa: BLE001 - tracking must never fail a run
        log.warning("W&B: the run's summary was not fully logged: %s", error)
    finally:
        try:
            run.finish()
        except Exception as error:  # noqa: BLE001
            log.warning("W&B: run not finished cleanly: %s", error)
