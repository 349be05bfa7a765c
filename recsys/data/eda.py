"""Exploratory data analysis of a processed MovieLens-schema folder (public entry point).

The work is split in two modules: :mod:`recsys.data.eda_figures` (DuckDB aggregates and one
function per figure, each ``fn(src, out_dir) -> Path``) and :mod:`recsys.data.eda_report`
(``write_eda``: all figures plus ``EDA.md``, written atomically).

Example:
    >>> from recsys.data.eda import write_eda
    >>> write_eda(Path("data/processed/ml_latest_small/<hash>"), Path("experiments/eda/ml_latest_small"))
"""

from __future__ import annotations

from recsys.data.eda_figures import (
    FIGURES,
    EdaSource,
    cold_start,
    cold_start_counts,
    counts_per,
    data_quality,
    genre_cooccurrence,
    genre_frequency,
    genre_mean_rating,
    genre_stats,
    item_long_tail,
    open_source,
    rating_histogram,
    ratings_over_time,
    sparsity_sample,
    time_patterns,
    top_share,
    user_activity,
    user_generosity,
    validation_counts,
)
from recsys.data.eda_report import default_name, key_numbers, render_markdown, write_eda

__all__ = [
    "FIGURES",
    "EdaSource",
    "cold_start",
    "cold_start_counts",
    "counts_per",
    "data_quality",
    "default_name",
    "genre_cooccurrence",
    "genre_frequency",
    "genre_mean_rating",
    "genre_stats",
    "item_long_tail",
    "key_numbers",
    "open_source",
    "rating_histogram",
    "ratings_over_time",
    "render_markdown",
    "sparsity_sample",
    "time_patterns",
    "top_share",
    "user_activity",
    "user_generosity",
    "validation_counts",
    "write_eda",
]
