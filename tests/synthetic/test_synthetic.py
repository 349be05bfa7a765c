"""Tests for the synthetic MovieLens-25M-shaped generator, at small scale (seconds)."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.synthetic.generator import SyntheticConfig, generate_synthetic
from recsys.synthetic.catalog import ML_GENRES, NO_GENRE
from recsys.synthetic.sampling import allocate_counts

# The ML-25M file headers (identical in every MovieLens "latest" release).
HEADERS = {
    "ratings.csv": "userId,movieId,rating,timestamp",
    "movies.csv": "movieId,title,genres",
    "links.csv": "movieId,imdbId,tmdbId",
    "tags.csv": "userId,movieId,tag,timestamp",
}
CFG = SyntheticConfig(n_users=2_000, n_items=2_000, n_ratings=100_000, seed=7)
CHUNK = 512  # several chunks, so chunking is exercised


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic(CFG, tmp_path_factory.mktemp("syn") / "a", CHUNK, progress=False)


@pytest.fixture(scope="module")
def ratings(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "ratings.csv")


@pytest.fixture(scope="module")
def movies(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "movies.csv")


def test_files_and_headers(data_dir: Path) -> None:
    names = sorted(p.name for p in data_dir.iterdir())
    assert names == sorted([*HEADERS, "README.txt"])  # no *.tmp left behind
    for name, header in HEADERS.items():
        with open(data_dir / name) as f:
            assert f.readline().rstrip("\n") == header
    readme = (data_dir / "README.txt").read_text()
    assert "SYNTHETIC" in readme and '"n_ratings": 100000' in readme


def test_ratings_schema_and_counts(data_dir: Path, ratings: pd.DataFrame) -> None:
    assert len(ratings) == CFG.n_ratings
    assert ratings.dtypes.map(str).to_dict() == {
        "userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"}
    per_user = ratings.groupby("userId").size()
    assert per_user.index.tolist() == list(range(1, CFG.n_users + 1))
    assert per_user.min() >= CFG.min_ratings_per_user
    assert not ratings.duplicated(["userId", "movieId"]).any()
    key = ratings.userId.to_numpy() * 10**7 + ratings.movieId.to_numpy()
    assert (np.diff(key) > 0).all()  # sorted by (userId, movieId) like ML-25M
    # ratings printed like ML ("4.0", "3.5"), on the half-star grid
    with open(data_dir / "ratings.csv") as f:
        f.readline()
        assert re.fullmatch(r"\d+,\d+,[0-5]\.[05],\d+\n", f.readline())
    assert set(ratings.rating.unique()) <= {0.5 * k for k in range(1, 11)}
    assert ratings.timestamp.between(CFG.start_timestamp, CFG.end_timestamp).all()


def test_rating_distribution(ratings: pd.DataFrame) -> None:
    r = ratings.rating
    assert 3.3 <= r.mean() <= 3.8
    assert 0.9 <= r.std() <= 1.2
    freq = r.value_counts(normalize=True)
    assert freq.idxmax() == 4.0
    assert freq[0.5] < 0.03
    whole = freq[[1.0, 2.0, 3.0, 4.0, 5.0]].sum()
    assert whole > 1 - whole  # half stars less common


def test_long_tail_and_activity(ratings: pd.DataFrame) -> None:
    per_item = ratings.groupby("movieId").size().sort_values(ascending=False)
    top = per_item.iloc[: max(1, CFG.n_items // 100)].sum()
    assert top / len(ratings) > 0.15
    assert (per_item < 10).sum() > 0.2 * CFG.n_items
    per_user = ratings.groupby("userId").size()
    assert per_user.mean() > 1.3 * per_user.median()  # right-skewed activity


def test_movies_links_tags(data_dir: Path, movies: pd.DataFrame, ratings: pd.DataFrame) -> None:
    assert len(movies) == CFG.n_items and movies.movieId.is_monotonic_increasing
    assert movies.movieId.is_unique and movies.movieId.max() > CFG.n_items  # non-contiguous
    assert set(ratings.movieId) <= set(movies.movieId)
    years = movies.title.str.extract(r"^Synthetic Movie \d+ \((\d{4})\)$")[0]
    assert years.notna().all()
    genres = movies.genres.str.split("|")
    assert genres.map(len).between(1, 3).all()
    assert set(genres.explode()) <= set(ML_GENRES)
    assert (genres[genres.map(lambda g: NO_GENRE in g)].map(len) == 1).all()
    top2 = genres.explode().value_counts().index[:2]
    assert set(top2) == {"Drama", "Comedy"}
    # ratings come after the release year starts
    year_of = dict(zip(movies.movieId, years.astype(int)))
    rated_year = pd.to_datetime(ratings.timestamp, unit="s").dt.year
    assert (rated_year >= ratings.movieId.map(year_of)).all()
    links = pd.read_csv(data_dir / "links.csv", dtype={"imdbId": str})
    assert links.movieId.tolist() == movies.movieId.tolist()
    assert links.imdbId.str.fullmatch(r"\d{7,}").all() and links.imdbId.is_unique
    tags = pd.read_csv(data_dir / "tags.csv")
    assert 0 < len(tags) < 0.2 * len(ratings)
    pairs = set(zip(ratings.userId, ratings.movieId))
    assert all(p in pairs for p in zip(tags.userId, tags.movieId))


def test_deterministic(data_dir: Path, tmp_path: Path) -> None:
    again = generate_synthetic(CFG, tmp_path / "b", CHUNK, progress=False)
    for name in [*HEADERS, "README.txt"]:
        assert filecmp.cmp(data_dir / name, again / name, shallow=False), name
    other = SyntheticConfig(**{**CFG.__dict__, "seed": CFG.seed + 1})
    changed = generate_synthetic(other, tmp_path / "c", CHUNK, progress=False)
    assert not filecmp.cmp(data_dir / "ratings.csv", changed / "ratings.csv", shallow=False)


def test_learnable_signal(ratings: pd.DataFrame) -> None:
    """Item means on one half of the users predict item means on the other half."""
    half = ratings.userId % 2
    stats = ratings.groupby([half, "movieId"]).rating.agg(["mean", "size"]).unstack(0)
    ok = (stats["size"] >= 10).all(axis=1)
    assert ok.sum() >= 50
    corr = np.corrcoef(stats["mean"][0][ok], stats["mean"][1][ok])[0, 1]
    assert corr > 0.5
    # and user means too (user bias), across two random halves of each user's items
    rng = np.random.default_rng(0)
    side = rng.random(len(ratings)) < 0.5
    um = ratings.groupby([side, ratings.userId]).rating.mean().unstack(0)
    assert np.corrcoef(um[False], um[True])[0, 1] > 0.5


def test_allocate_counts_exact_total_and_bounds() -> None:
    rng = np.random.default_rng(0)
    c = allocate_counts(1000, 60_000, 20, 300, 1.4, rng)
    assert c.sum() == 60_000 and c.min() >= 20 and c.max() <= 300
    with pytest.raises(ValueError):
        allocate_counts(10, 100, 20, 300, 1.4, rng)


def test_command_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from recsys.synthetic import cli

    code = cli.main(["--users", "100", "--items", "200", "--ratings", "5000",
                     "--output", str(tmp_path / "s"), "--no-progress"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"]["ratings.csv"] == 5000 and summary["peak_rss_mib"] > 0
