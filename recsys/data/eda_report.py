"""``write_eda``: every EDA figure plus an ``EDA.md`` summary, written atomically."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

from recsys.data import eda_figures as figs
from recsys.data.eda_figures import EdaSource, open_source

TITLES = {
    "rating_histogram": "Rating distribution",
    "user_generosity": "User generosity (per-user mean rating)",
    "user_activity": "User activity: power law and CDF",
    "item_long_tail": "Item popularity long tail",
    "genre_frequency": "Genre frequency",
    "genre_cooccurrence": "Genre co-occurrence",
    "genre_mean_rating": "Mean rating per genre",
    "ratings_over_time": "Ratings over time",
    "time_patterns": "Day-of-week and hour-of-day patterns",
    "sparsity_sample": "Sampled sparsity picture",
    "cold_start": "Cold start",
    "data_quality": "Data quality",
}
CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
    "ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19."
)


def default_name(processed_dir: Path) -> str:
    """``<dataset>`` for ``data/processed/<dataset>/<hash>``, else the folder's own name."""
    processed_dir = Path(processed_dir).resolve()
    if processed_dir.parent.parent.name == "processed":
        return processed_dir.parent.name
    return processed_dir.name


def key_numbers(src: EdaSource) -> dict[str, object]:
    """Headline numbers: sizes, density, rating mean, activity medians, time span, split sizes."""
    row = src.con.execute(
        f"""
        SELECT count(*), count(DISTINCT user_idx), count(DISTINCT item_idx), avg(rating),
               min({figs._TS})::DATE, max({figs._TS})::DATE
        FROM ratings
        """
    ).fetchone()
    n_ratings, n_users, n_items = int(row[0]), int(row[1]), int(row[2])
    users = figs.counts_per(src, "user_idx")
    items = figs.counts_per(src, "item_idx")
    numbers: dict[str, object] = {
        "n_ratings": n_ratings,
        "n_users": n_users,
        "n_items": n_items,
        "n_movies_in_catalog": int(src.scalar("SELECT count(*) FROM movies")),
        "n_genres": int(src.scalar("SELECT count(DISTINCT g) FROM (SELECT unnest(genres) AS g FROM movies)")),
        "density": n_ratings / max(1, n_users * n_items),
        "mean_rating": float(row[3]) if row[3] is not None else None,
        "median_ratings_per_user": float(np.median(users)) if n_ratings else 0.0,
        "median_ratings_per_item": float(np.median(items)) if n_ratings else 0.0,
        "first_rating": str(row[4]),
        "last_rating": str(row[5]),
    }
    if n_ratings:
        for frac in (0.01, 0.10, 0.20):
            numbers[f"share_top_{frac:.0%}_items"] = figs.top_share(items, frac)
    if src.split:
        views = {r[0] for r in src.con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        for part in ("train", "val", "test"):
            if part in views:
                numbers[f"{part}_ratings"] = int(src.scalar(f"SELECT count(*) FROM {part}"))
    return numbers


def _fmt(key: str, value: object) -> str:
    if isinstance(value, float) and ("share" in key or "density" in key):
        return f"{value:.3%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return figs._cell(value, width=60)


def _table(rows: dict[str, object], header: tuple[str, str]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {k} | {_fmt(k, v)} |" for k, v in rows.items()]
    return lines


def _flat_scalars(data: object, prefix: str = "", limit: int = 40) -> dict[str, object]:
    """Flattens nested dicts of ``statistics.json`` to ``a.b: scalar`` (first ``limit`` entries)."""
    out: dict[str, object] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flat_scalars(v, f"{prefix}{k}.", limit))
    elif isinstance(data, (str, int, float, bool)) or data is None:
        out[prefix.rstrip(".")] = data
    return dict(list(out.items())[:limit])


def render_markdown(
    name: str,
    numbers: dict[str, object],
    cold: dict[str, int],
    quality: dict[str, object] | None,
    statistics: dict | None,
    figures: dict[str, Path],
    split: str | None = None,
) -> str:
    """The ``EDA.md`` text; figures are linked by file name (relative to ``EDA.md``)."""
    lines = [f"# Exploratory data analysis: {name}", ""]
    lines += [f"Split for cold-start counts: `{split}`." if split else "No split given: cold-start counts use all ratings.", ""]
    lines += ["## Key numbers", ""] + _table(numbers, ("quantity", "value")) + [""]
    lines += ["## Cold start", ""] + _table(cold, ("group", "count")) + [""]
    lines += ["## Data quality (validation.json)", ""]
    lines += (_table(quality, ("check", "count")) if quality else ["No validation checks found."]) + [""]
    stats = _flat_scalars(statistics) if statistics else {}
    if stats:
        lines += ["## statistics.json", ""] + _table(stats, ("key", "value")) + [""]
    lines += ["## Figures", ""]
    for fig_name, path in figures.items():
        lines += [f"### {TITLES.get(fig_name, fig_name)}", "", f"![{fig_name}]({path.name})", ""]
    lines += ["## Citation", "", f"MovieLens data: {CITATION}", ""]
    return "\n".join(lines)


def _replace_dir(new: Path, target: Path) -> None:
    """Renames ``new`` onto ``target``; an existing ``target`` is swapped out, then deleted."""
    if not target.exists():
        os.rename(new, target)
        return
    backup = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, backup)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def write_eda(processed_dir: Path, output_dir: Path, split: str | None = None, dataset_name: str = "") -> Path:
    """Writes every figure in :data:`eda_figures.FIGURES` and ``EDA.md`` into ``output_dir``.

    Everything is written into a temporary sibling folder first and renamed over ``output_dir`` at
    the end, so a failure leaves any previous ``output_dir`` untouched.

    Args:
        processed_dir: a processed folder (``ratings.parquet``, ``movies.parquet``, ...).
        output_dir: destination folder (replaced as a whole).
        split: name of ``splits/<split>`` used for cold-start counts, or None.
        dataset_name: title for ``EDA.md``; defaults to :func:`default_name`.

    Returns:
        The path of ``EDA.md`` inside ``output_dir``.
    """
    processed_dir, output_dir = Path(processed_dir), Path(output_dir).absolute()
    name = dataset_name or default_name(processed_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]", "_", output_dir.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{safe}.tmp-", dir=output_dir.parent))
    try:
        src = open_source(processed_dir, split)
        try:
            figures = {fig_name: fn(src, tmp) for fig_name, fn in figs.FIGURES.items()}
            numbers, cold = key_numbers(src), figs.cold_start_counts(src)
        finally:
            src.con.close()
        stats_path = processed_dir / "statistics.json"
        statistics = json.loads(stats_path.read_text()) if stats_path.exists() else None
        quality = figs.validation_counts(processed_dir)
        text = render_markdown(name, numbers, cold, quality, statistics, figures, split)
        (tmp / "EDA.md").write_text(text)
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output_dir / "EDA.md"
