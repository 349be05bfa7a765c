"""Shared fixtures: seeded RNGs, tiny raw data sets, the bundled set prepared once per session."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

import recsys

BUNDLED = recsys.REPO_ROOT / "data" / "movielens" / "ml-latest-small"


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def write_raw_csv_set(folder: Path, ratings: list[str], movies: list[str] | None = None) -> Path:
    """A MovieLens CSV folder with the given ratings lines (no header) and movies lines."""
    folder.mkdir(parents=True, exist_ok=True)
    movies = movies or [
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
        "2,Jumanji (1995),Adventure|Children|Fantasy",
        '3,"Lord of the Rings, The (1978)",Adventure|Animation|Children|Fantasy',
        "4,Untitled Film,(no genres listed)",
        "5,Heat (1995),Action|Crime|Thriller",
    ]
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "\n".join(movies) + "\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(ratings) + "\n")
    return folder


def random_ratings(n_users: int, n_items: int, per_user: int, seed: int = 0) -> list[str]:
    """Lines of a clean ratings.csv: every user rates ``per_user`` distinct items."""
    rng = np.random.default_rng(seed)
    lines = []
    for user in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=per_user, replace=False)
        for item in items:
            rating = rng.integers(1, 11) / 2
            lines.append(f"{user},{item},{rating},{int(rng.integers(9e8, 1.5e9))}")
    return lines


def movies_lines(n_items: int) -> list[str]:
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance"]
    return [f"{i},Movie {i} ({1980 + i % 40}),{genres[i % 5]}|{genres[(i * 3) % 5]}" for i in range(1, n_items + 1)]


@pytest.fixture
def small_raw(tmp_path: Path) -> Path:
    """A clean tiny CSV data set: 30 users x 40 movies, 15 ratings each."""
    return write_raw_csv_set(tmp_path / "raw", random_ratings(30, 40, 15), movies_lines(40))


@pytest.fixture(scope="session")
def processed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("processed")


@pytest.fixture(scope="session")
def bundled_dataset(processed_root: Path):
    """The bundled ml-latest-small set, processed once per test session into a temp cache."""
    if not BUNDLED.exists():
        pytest.skip("bundled ml-latest-small is absent")
    from recsys.data.prepare import prepare_dataset

    return prepare_dataset("ml_latest_small", [f"data.processed_root={processed_root}"])


@pytest.fixture(scope="session")
def bundled_split(bundled_dataset):
    from recsys.data.interactions import SplitData

    return SplitData.load(bundled_dataset)
