"""``write_eda``: every EDA figure plus an ``EDA.md`` summary, written atomically."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from recsys.eda import figures as figs
from recsys.eda.queries import (
    cold_start_counts,
    default_name,
    key_numbers,
    open_source,
    short_text,
    validation_counts,
)

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


def _fmt(key: str, value: object) -> str:
    if isinstance(value, float) and ("share" in key or "density" in key):
        return f"{value:.3%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if "timestamp" in key else f"{value:,}"
    return short_text(value, width=60)


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
    where = f"Split for cold-start counts: `{split}`." if split else "No split given: cold-start counts use all ratings."
    lines += [where, ""]
    lines += ["## Key numbers", ""] + _table(numbers, ("quantity", "value")) + [""]
    lines += ["## Cold start", ""] + _table(cold, ("group", "count")) + [""]
    lines += ["## Data quality (validation.json)", ""]
    if quality:
        lines += _table(quality, ("check", "value")) + [""]
    else:
        lines += ["validation.json not found." if quality is None else "validation.json records no checks.", ""]
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
            numbers, cold = key_numbers(src), cold_start_counts(src)
        finally:
            src.con.close()
        stats_path = processed_dir / "statistics.json"
        statistics = json.loads(stats_path.read_text()) if stats_path.exists() else None
        quality = validation_counts(processed_dir)
        text = render_markdown(name, numbers, cold, quality, statistics, figures, split)
        (tmp / "EDA.md").write_text(text)
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output_dir / "EDA.md"
