"""Exploratory figures for a processed MovieLens-schema folder (aggregates from :mod:`recsys.eda.queries`).

Figures are drawn with the object-oriented ``matplotlib.figure.Figure`` API (no pyplot state, no
display needed, so any backend works).

Each figure function has the shape ``fn(src: EdaSource, out_dir: Path) -> Path`` and writes one PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from recsys.eda.queries import (
    EdaSource,
    cold_start_counts,
    counts_per,
    genre_stats,
    short_text,
    top_share,
    validation_counts,
)

DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]  # DuckDB dayofweek: Sunday = 0


def _save(fig: Figure, out_dir: Path, name: str) -> Path:
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def rating_histogram(src: EdaSource, out_dir: Path) -> Path:
    """Bar chart of ratings per half-star value."""
    df = src.df("SELECT rating, count(*) AS n FROM ratings GROUP BY rating ORDER BY rating")
    mean = float((df.rating * df.n).sum() / df.n.sum())
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.bar(df.rating, df.n, width=0.4, color="tab:blue")
    ax.set_xticks(np.arange(0.5, 5.01, 0.5))
    ax.set(xlabel="rating (stars)", ylabel="ratings", title=f"Rating distribution (mean {mean:.2f})")
    return _save(fig, out_dir, "rating_histogram")


def user_generosity(src: EdaSource, out_dir: Path) -> Path:
    """Histogram (0.1-star bins) of each user's mean rating."""
    df = src.df("SELECT floor(mean * 10) / 10 AS bin, count(*) AS n FROM user_stats GROUP BY bin ORDER BY bin")
    median = src.scalar("SELECT median(mean) FROM user_stats")
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.bar(df.bin + 0.05, df.n, width=0.1, color="tab:orange", edgecolor="white")
    ax.axvline(median, color="k", ls="--", label=f"median {median:.2f}")
    ax.set(xlabel="mean rating of the user", ylabel="users", title="User generosity")
    ax.legend()
    return _save(fig, out_dir, "user_generosity")


def _log_spaced(n: int, points: int = 2000) -> np.ndarray:
    """At most ``points`` distinct 0-based ranks below ``n``, log-spaced (keeps log plots light)."""
    return np.unique(np.geomspace(1, max(n, 1), num=min(n, points)).astype(np.int64) - 1)


def user_activity(src: EdaSource, out_dir: Path) -> Path:
    """Log-log rank vs ratings per user (power law) and the CDF of ratings per user."""
    counts = counts_per(src, "user_idx")
    fig = Figure(figsize=(11, 4))
    ax_rank, ax_cdf = fig.subplots(1, 2)
    shown = _log_spaced(len(counts))
    ax_rank.loglog(shown + 1, counts[shown], marker=".", ls="none", ms=3)
    ax_rank.set(xlabel="user rank", ylabel="ratings", title="User activity (log-log)")
    asc = counts[::-1]
    shown = np.unique(np.searchsorted(asc, asc, side="right") - 1)  # last user at each count
    ax_cdf.step(asc[shown], (shown + 1) / len(asc), where="post", label="users")
    ax_cdf.step(asc[shown], np.cumsum(asc)[shown] / asc.sum(), where="post", label="ratings (least active users first)")
    ax_cdf.axvline(np.median(asc), color="k", ls="--", lw=1, label=f"median {np.median(asc):.0f}")
    ax_cdf.set_xscale("log")
    ax_cdf.set(xlabel="ratings per user", ylabel="cumulative share", title="CDF of user activity")
    ax_cdf.legend()
    return _save(fig, out_dir, "user_activity")


def item_long_tail(src: EdaSource, out_dir: Path) -> Path:
    """Sorted item popularity with the share of ratings held by the top 1%/10%/20% items."""
    counts = counts_per(src, "item_idx")
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    ranks = np.arange(1, len(counts) + 1)
    ax.fill_between(ranks, counts, color="tab:green", alpha=0.6, step="post")
    ax.set_yscale("log")
    for frac, color in ((0.01, "tab:red"), (0.10, "tab:purple"), (0.20, "tab:brown")):
        k = max(1, math.ceil(frac * len(counts)))
        ax.axvline(k, color=color, ls="--", label=f"top {frac:.0%} items: {top_share(counts, frac):.1%} of ratings")
    ax.set(xlabel="item rank", ylabel="ratings", title="Item popularity long tail")
    ax.legend()
    return _save(fig, out_dir, "item_long_tail")


def genre_frequency(src: EdaSource, out_dir: Path) -> Path:
    """Movies per genre (catalog) and ratings per genre."""
    df = genre_stats(src).iloc[::-1]
    fig = Figure(figsize=(11, max(3.0, 0.3 * len(df) + 1)))
    ax_m, ax_r = fig.subplots(1, 2, sharey=True)
    if df.empty:
        _note(ax_m, "no genres")
        return _save(fig, out_dir, "genre_frequency")
    ax_m.barh(df.genre, df.n_movies, color="tab:blue")
    ax_m.set(xlabel="movies", title="Movies per genre")
    ax_r.barh(df.genre, df.n_ratings, color="tab:orange")
    ax_r.set(xlabel="ratings", title="Ratings per genre")
    ax_r.xaxis.set_major_formatter(EngFormatter(sep=""))
    return _save(fig, out_dir, "genre_frequency")


def genre_cooccurrence(src: EdaSource, out_dir: Path) -> Path:
    """Heatmap of movies that carry both genres (diagonal masked; it is the genre frequency)."""
    df = src.df(
        """
        WITH g AS (SELECT movieId, unnest(genres) AS genre FROM movies)
        SELECT a.genre AS a, b.genre AS b, count(*) AS n FROM g a JOIN g b USING (movieId) GROUP BY ALL
        """
    )
    fig = Figure(figsize=(9, 8))
    ax = fig.subplots()
    if df.empty:
        _note(ax, "no genres")
        return _save(fig, out_dir, "genre_cooccurrence")
    order = df[df.a == df.b].sort_values("n", ascending=False).a.tolist()
    mat = df.pivot(index="a", columns="b", values="n").reindex(index=order, columns=order).astype(float)
    values = mat.to_numpy(copy=True)
    np.fill_diagonal(values, np.nan)
    values[values == 0] = np.nan
    norm = LogNorm() if np.nan_to_num(values, nan=0.0).max(initial=0.0) > 0 else None
    im = ax.imshow(values, cmap="viridis", norm=norm)
    ax.set_xticks(range(len(order)), order, rotation=90)
    ax.set_yticks(range(len(order)), order)
    ax.set_title("Genre co-occurrence (movies with both genres)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="movies")
    return _save(fig, out_dir, "genre_cooccurrence")


def genre_mean_rating(src: EdaSource, out_dir: Path) -> Path:
    """Mean rating per genre against the global mean."""
    df = genre_stats(src).dropna(subset=["mean_rating"]).sort_values("mean_rating")
    fig = Figure(figsize=(7, max(3.0, 0.3 * len(df) + 1)))
    ax = fig.subplots()
    if df.empty:
        _note(ax, "no rated genres")
        return _save(fig, out_dir, "genre_mean_rating")
    overall = src.scalar("SELECT sum(s) / sum(n) FROM item_stats")
    ax.barh(df.genre, df.mean_rating, color="tab:purple")
    ax.axvline(overall, color="k", ls="--", label=f"all ratings {overall:.2f}")
    lo, hi = df.mean_rating.min(), df.mean_rating.max()
    ax.set_xlim(max(0.0, lo - 0.2), min(5.0, hi + 0.2))
    ax.set(xlabel="mean rating", title="Mean rating per genre")
    ax.legend(loc="lower right")
    return _save(fig, out_dir, "genre_mean_rating")


def ratings_over_time(src: EdaSource, out_dir: Path) -> Path:
    """Ratings per month with the monthly mean rating on a second axis."""
    df = src.df(
        "SELECT date_trunc('month', hour) AS month, sum(n) AS n, sum(s) / sum(n) AS mean "
        "FROM hour_stats GROUP BY month ORDER BY month"
    )
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    ax.bar(df.month, df.n, width=25, color="tab:blue", label="ratings")
    ax.set(xlabel="month (UTC)", ylabel="ratings per month", title="Ratings over time")
    ax.yaxis.set_major_formatter(EngFormatter(sep=""))
    twin = ax.twinx()
    twin.plot(df.month, df["mean"], color="tab:red", lw=0.8, alpha=0.7, label="monthly mean rating")
    twin.set(ylabel="mean rating", ylim=(0.5, 5.0))
    fig.legend(loc="upper left", bbox_to_anchor=(0.08, 0.88), framealpha=0.9)
    return _save(fig, out_dir, "ratings_over_time")


def time_patterns(src: EdaSource, out_dir: Path) -> Path:
    """Ratings per day of week and per hour of day (UTC)."""
    dow = src.df("SELECT dayofweek(hour) AS k, sum(n) AS n FROM hour_stats GROUP BY k")
    hour = src.df("SELECT hour(hour) AS k, sum(n) AS n FROM hour_stats GROUP BY k")
    dow = dow.set_index("k").n.reindex(range(7), fill_value=0)
    hour = hour.set_index("k").n.reindex(range(24), fill_value=0)
    fig = Figure(figsize=(11, 4))
    ax_d, ax_h = fig.subplots(1, 2)
    ax_d.bar(DAYS, dow.to_numpy(), color="tab:cyan")
    ax_d.set(ylabel="ratings", title="Day of week (UTC)")
    ax_h.bar(hour.index, hour.to_numpy(), color="tab:olive")
    ax_h.set(xlabel="hour", title="Hour of day (UTC)", xticks=range(0, 24, 3))
    return _save(fig, out_dir, "time_patterns")


def sparsity_sample(src: EdaSource, out_dir: Path, n_users: int = 200, n_items: int = 400, seed: int = 0) -> Path:
    """Spy-like picture of a uniform sample of users x items, sorted by activity / popularity."""
    sample = "SELECT {k}, n AS c FROM {t} ORDER BY hash({k}, {s}) LIMIT {n}"
    users = src.df(sample.format(k="user_idx", t="user_stats", s=int(seed), n=int(n_users)))
    items = src.df(sample.format(k="item_idx", t="item_stats", s=int(seed), n=int(n_items)))
    users = users.sort_values(["c", "user_idx"], ascending=[False, True]).reset_index(drop=True)
    items = items.sort_values(["c", "item_idx"], ascending=[False, True]).reset_index(drop=True)
    src.con.register("_eda_users", users)
    src.con.register("_eda_items", items)
    cells = src.df(
        "SELECT user_idx, item_idx, rating FROM ratings "
        "WHERE user_idx IN (SELECT user_idx FROM _eda_users) AND item_idx IN (SELECT item_idx FROM _eda_items)"
    )
    src.con.unregister("_eda_users")
    src.con.unregister("_eda_items")
    rows = cells.user_idx.map(pd.Series(users.index, index=users.user_idx))
    cols = cells.item_idx.map(pd.Series(items.index, index=items.item_idx))
    density = len(cells) / max(1, len(users) * len(items))
    fig = Figure(figsize=(10, 5.5))
    ax = fig.subplots()
    sc = ax.scatter(cols, rows, c=cells.rating, s=4, marker="s", cmap="viridis", vmin=0.5, vmax=5.0, linewidths=0)
    ax.set(xlim=(-0.5, len(items) - 0.5), ylim=(len(users) - 0.5, -0.5))
    ax.set_xlabel(f"{len(items)} sampled items (most popular left)")
    ax.set_ylabel(f"{len(users)} sampled users (most active top)")
    ax.set_title(f"Sampled rating matrix: density {density:.2%}")
    fig.colorbar(sc, ax=ax, label="rating")
    return _save(fig, out_dir, "sparsity_sample")


def cold_start(src: EdaSource, out_dir: Path) -> Path:
    """Bar chart of :func:`cold_start_counts`, each bar labelled with its count."""
    counts = {k: v for k, v in cold_start_counts(src).items() if k not in ("users", "items")}
    fig = Figure(figsize=(8, 0.45 * len(counts) + 1.5))
    ax = fig.subplots()
    labels = list(counts)[::-1]
    bars = ax.barh(labels, [counts[k] for k in labels], color="tab:red")
    ax.bar_label(bars, padding=3)
    where = f"train of split '{src.split}'" if src.split else "all ratings (no split given)"
    ax.set(xlabel="count", title=f"Cold start: {where}")
    ax.margins(x=0.15)
    return _save(fig, out_dir, "cold_start")


def data_quality(src: EdaSource, out_dir: Path) -> Path:
    """Table of the data-quality checks in ``validation.json``."""
    counts = validation_counts(src.processed_dir)
    rows = [[short_text(k), short_text(v)] for k, v in (counts or {}).items()]
    fig = Figure(figsize=(7, 0.4 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title("Data quality (validation.json)")
    if not rows:
        _note(ax, "validation.json not found" if counts is None else "validation.json has no checks")
        return _save(fig, out_dir, "data_quality")
    table = ax.table(cellText=rows, colLabels=["check", "value"], loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(11)
    table.scale(1, 1.5)
    table.auto_set_column_width([0, 1])
    return _save(fig, out_dir, "data_quality")


FigureFn = Callable[[EdaSource, Path], Path]

#: Figure name -> function, in report order (``write_eda`` draws every entry).
FIGURES: dict[str, FigureFn] = {
    "rating_histogram": rating_histogram,
    "user_generosity": user_generosity,
    "user_activity": user_activity,
    "item_long_tail": item_long_tail,
    "genre_frequency": genre_frequency,
    "genre_cooccurrence": genre_cooccurrence,
    "genre_mean_rating": genre_mean_rating,
    "ratings_over_time": ratings_over_time,
    "time_patterns": time_patterns,
    "sparsity_sample": sparsity_sample,
    "cold_start": cold_start,
    "data_quality": data_quality,
}
