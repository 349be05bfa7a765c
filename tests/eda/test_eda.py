"""Tests for recsys.eda.queries on a tiny synthetic processed folder (exact processed schema)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.eda import cli as eda_cli, figures as eda_figures, queries as eda, report as eda_report

GENRES = ["Action", "Comedy", "Drama", "Romance", "Sci-Fi", "Thriller"]
N_USERS, N_ITEMS, N_RATINGS = 30, 40, 400


def _ratings_table(rng: np.random.Generator) -> pa.Table:
    # Zipf-ish popularity so the long tail / activity figures have something to show.
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < N_RATINGS:
        u = int(min(rng.zipf(1.5), N_USERS)) - 1 if rng.random() < 0.5 else int(rng.integers(N_USERS))
        i = int(min(rng.zipf(1.3), N_ITEMS)) - 1 if rng.random() < 0.5 else int(rng.integers(N_ITEMS))
        pairs.add((u, i))
    users, items = map(np.array, zip(*sorted(pairs)))
    ts = rng.integers(1_300_000_000, 1_500_000_000, size=N_RATINGS)
    return pa.table(
        {
            "user_idx": pa.array(users, pa.int32()),
            "item_idx": pa.array(items, pa.int32()),
            "userId": pa.array(users * 10 + 1, pa.int64()),
            "movieId": pa.array(items * 100 + 7, pa.int64()),
            "rating": pa.array(rng.integers(1, 11, size=N_RATINGS) / 2, pa.float32()),
            "timestamp": pa.array(ts, pa.int64()),
        }
    )


def _movies_table(rng: np.random.Generator) -> pa.Table:
    n = N_ITEMS + 2  # two catalog movies without ratings (item_idx null)
    genres = [sorted(rng.choice(GENRES, size=int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(n)]
    genres[3] = []  # "(no genres listed)" after processing
    return pa.table(
        {
            "item_idx": pa.array([i if i < N_ITEMS else None for i in range(n)], pa.int32()),
            "movieId": pa.array([i * 100 + 7 for i in range(n)], pa.int64()),
            "title": pa.array([f"Movie {i}" for i in range(n)], pa.string()),
            "year": pa.array([1990 + i % 30 if i % 7 else None for i in range(n)], pa.int32()),
            "genres": pa.array(genres, pa.list_(pa.string())),
        }
    )


@pytest.fixture
def processed(tmp_path: Path) -> Path:
    """A processed folder with a ``random`` split whose test set holds an item unseen in train."""
    rng = np.random.default_rng(0)
    root = tmp_path / "processed" / "tiny" / "abc123"
    split_dir = root / "splits" / "random"
    split_dir.mkdir(parents=True)
    ratings = _ratings_table(rng)
    pq.write_table(ratings, root / "ratings.parquet")
    pq.write_table(_movies_table(rng), root / "movies.parquet")
    part = rng.choice(3, size=ratings.num_rows, p=[0.8, 0.1, 0.1])
    items = ratings.column("item_idx").to_numpy()
    part[items == items.max()] = 2  # the last item only appears in test
    for k, name in enumerate(("train", "val", "test")):
        pq.write_table(ratings.filter(pa.array(part == k)), split_dir / f"{name}.parquet")
    validation = {"ok": False, "counts": {"duplicate_ratings": 3, "bad_rating": 1}, "problems": ["a", "b"]}
    (root / "validation.json").write_text(json.dumps(validation))
    (root / "statistics.json").write_text(json.dumps({"n_ratings": N_RATINGS, "per_split": {"random": {"train": 320}}}))
    return root


def _assert_pngs(folder: Path) -> None:
    for name in eda_figures.FIGURES:
        png = folder / f"{name}.png"
        assert png.exists() and png.stat().st_size > 1000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_eda_writes_every_figure_and_summary(processed: Path, tmp_path: Path) -> None:
    out = tmp_path / "eda" / "tiny"
    md_path = eda_report.write_eda(processed, out, split="random")
    assert md_path == out / "EDA.md"
    _assert_pngs(out)
    text = md_path.read_text()
    assert text.startswith("# Exploratory data analysis: tiny")  # name from data/processed/<dataset>/<hash>
    assert f"| n_ratings | {N_RATINGS} |" in text
    for name in eda_figures.FIGURES:
        assert f"]({name}.png)" in text
    assert "| duplicate_ratings | 3 |" in text and "| problems (entries) | 2 |" in text
    assert "| per_split.random.train | 320 |" in text
    assert "Harper" in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]  # no temp folders left behind


def test_key_numbers_and_cold_start(processed: Path) -> None:
    src = eda.open_source(processed, split="random")
    numbers = eda.key_numbers(src)
    assert numbers["n_ratings"] == N_RATINGS
    assert numbers["n_movies_in_catalog"] == N_ITEMS + 2
    assert numbers["n_genres"] == len(GENRES)
    assert numbers["train_ratings"] + numbers["val_ratings"] + numbers["test_ratings"] == N_RATINGS
    assert 0 < numbers["share_top_1%_items"] <= numbers["share_top_10%_items"] <= numbers["share_top_20%_items"] <= 1
    cold = eda.cold_start_counts(src)
    assert cold["test items unseen in train"] >= 1
    assert cold["test ratings on unseen items"] >= cold["test items unseen in train"]
    assert cold["users < 5 ratings"] <= cold["users < 20 ratings"] <= cold["users"]
    genres = eda.genre_stats(src)
    assert set(genres.genre) == set(GENRES)
    assert genres.n_ratings.sum() >= N_RATINGS - 20  # every rated movie but the genre-less one counts


def test_figure_functions_are_separately_callable(processed: Path, tmp_path: Path) -> None:
    src = eda.open_source(processed)  # no split: cold start counts all ratings
    path = eda_figures.sparsity_sample(src, tmp_path, n_users=10, n_items=15, seed=3)
    assert path == tmp_path / "sparsity_sample.png" and path.stat().st_size > 0
    assert eda_figures.cold_start(src, tmp_path).exists()
    assert "test items unseen in train" not in eda.cold_start_counts(src)


def test_missing_validation_and_split(processed: Path, tmp_path: Path) -> None:
    (processed / "validation.json").unlink()
    md = eda_report.write_eda(processed, tmp_path / "out", dataset_name="custom")
    assert "validation.json not found." in md.read_text()
    assert md.read_text().startswith("# Exploratory data analysis: custom")
    with pytest.raises(FileNotFoundError):
        eda.open_source(processed, split="nope")


def test_failure_leaves_previous_output_intact(
    processed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "eda"
    eda_report.write_eda(processed, out, split="random", dataset_name="first")
    (out / "stale.txt").write_text("old")
    eda_report.write_eda(processed, out, split="random", dataset_name="second")  # a rerun replaces the folder
    assert not (out / "stale.txt").exists() and "second" in (out / "EDA.md").read_text()
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(src, out_dir):
        raise RuntimeError("figure failed")

    monkeypatch.setitem(eda_figures.FIGURES, "genre_mean_rating", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        eda_report.write_eda(processed, out, split=None, dataset_name="changed")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_lazy_write_eda_export() -> None:
    from recsys.eda.queries import write_eda

    assert write_eda is eda_report.write_eda


def test_command_with_processed_dir(processed: Path, tmp_path: Path) -> None:
    out = tmp_path / "command_out"
    assert eda_cli.main(["--processed-dir", str(processed), "--split", "random", "--output", str(out)]) == 0
    assert (out / "EDA.md").exists()
    _assert_pngs(out)


def test_command_defaults_to_the_untracked_outputs_folder(
    processed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --output the command writes under outputs/eda/<name>/, never into experiments/."""
    import recsys

    assert eda_cli.OUTPUT_ROOT == recsys.REPO_ROOT / "outputs" / "eda"
    monkeypatch.setattr(eda_cli, "OUTPUT_ROOT", tmp_path / "outputs" / "eda")
    md = eda_cli.run(eda_cli.parse_args(["--processed-dir", str(processed), "--split", "random", "--name", "tiny"]))
    assert md == tmp_path / "outputs" / "eda" / "tiny" / "EDA.md" and md.exists()
