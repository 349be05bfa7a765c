"""Tests of the non-neural baselines: a shared contract class, planted structure, real data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hydra.utils import instantiate

import recsys
from recsys.models.base import FittedBaseline, HasFactors, Recommender
from recsys.models.baselines import (
    ALSRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RandomRecommender,
)
from recsys.models.baselines.itemknn import topk_cosine_neighbours
from recsys.utils.compose import compose_config

ROOT = recsys.REPO_ROOT
ML_SMALL = ROOT / "data/movielens/ml-latest-small/ratings.csv"
N_ITEMS, COLD_USER, HELD_OUT = 12, 20, {0: 0, 10: 6}  # user -> held-out in-block item


@pytest.fixture
def planted() -> sp.csr_matrix:
    """21 users x 12 items: users 0-9 like items 0-5, users 10-19 items 6-11, user 20 is cold.

    Each user misses one in-block item (user u misses ``u % 6`` of its block); users 3 and 14 also
    rated one out-of-block item, so the groups are linked and popularity is not flat.
    """
    rows, cols = [], []
    for user in range(20):
        block = 0 if user < 10 else 6
        for item in range(block, block + 6):
            if item != block + user % 6:
                rows.append(user)
                cols.append(item)
    rows += [3, 14]
    cols += [7, 2]
    vals = np.linspace(1.0, 5.0, len(rows), dtype=np.float32)  # ratings; binarised by models
    return sp.csr_matrix((vals, (rows, cols)), shape=(COLD_USER + 1, N_ITEMS), dtype=np.float32)


class BaselineContract:
    """Checks every baseline must pass; subclasses set ``make_model`` (lenskit style)."""

    ranks_planted_structure = True

    def make_model(self) -> FittedBaseline:
        raise NotImplementedError

    def fitted(self, train: sp.csr_matrix) -> FittedBaseline:
        model = self.make_model()
        model.fit(train)
        return model

    def test_is_recommender(self) -> None:
        assert isinstance(self.make_model(), Recommender)

    def test_score_shape_dtype_finite(self, planted: sp.csr_matrix) -> None:
        scores = self.fitted(planted).score(torch.tensor([0, 5, 19]))
        assert scores.shape == (3, N_ITEMS) and scores.dtype == torch.float32
        assert torch.isfinite(scores).all()

    def test_cold_user_gets_finite_scores(self, planted: sp.csr_matrix) -> None:
        scores = self.fitted(planted).score(torch.tensor([COLD_USER]))
        assert scores.shape == (1, N_ITEMS) and torch.isfinite(scores).all()

    def test_deterministic(self, planted: sp.csr_matrix) -> None:
        users = torch.arange(COLD_USER + 1)
        assert torch.equal(self.fitted(planted).score(users), self.fitted(planted).score(users))

    def test_independent_of_batch(self, planted: sp.csr_matrix) -> None:
        model = self.fitted(planted)
        full = model.score(torch.arange(COLD_USER + 1))
        for user in (0, 7, COLD_USER):
            torch.testing.assert_close(model.score(torch.tensor([user]))[0], full[user])

    def test_save_load_roundtrip(self, planted: sp.csr_matrix, tmp_path: Path) -> None:
        model = self.fitted(planted)
        path = tmp_path / "model.npz"
        model.save(path)
        loaded = type(model).load(path)
        assert loaded.get_params() == model.get_params()
        users = torch.arange(COLD_USER + 1)
        assert torch.equal(loaded.score(users), model.score(users))

    def test_fit_does_not_mutate_train(self, planted: sp.csr_matrix) -> None:
        before = planted.copy()
        self.fitted(planted)
        assert (planted != before).nnz == 0 and planted.dtype == np.float32

    def test_errors(self, planted: sp.csr_matrix) -> None:
        with pytest.raises(RuntimeError, match="not fitted"):
            self.make_model().score(torch.tensor([0]))
        with pytest.raises(IndexError):
            self.fitted(planted).score(torch.tensor([COLD_USER + 1]))

    def test_planted_structure(self, planted: sp.csr_matrix) -> None:
        if not self.ranks_planted_structure:
            pytest.skip("model ignores user-item structure")
        scores = self.fitted(planted).score(torch.tensor(list(HELD_OUT)))
        for row, (user, item) in enumerate(HELD_OUT.items()):
            other = list(range(6, 12)) if item < 6 else list(range(0, 6))
            other = [j for j in other if planted[user, j] == 0]
            assert scores[row, item] > scores[row, other].max(), (user, scores[row])


class TestPopularity(BaselineContract):
    ranks_planted_structure = False

    def make_model(self) -> FittedBaseline:
        return PopularityRecommender()

    def test_scores_are_counts(self, planted: sp.csr_matrix) -> None:
        scores = self.fitted(planted).score(torch.tensor([0, COLD_USER]))
        counts = torch.from_numpy(np.diff(planted.tocsc().indptr).astype(np.float32))
        assert torch.equal(scores[0], counts) and torch.equal(scores[1], counts)
        assert scores[0, 2] == 9 and scores[0, 0] == 8  # user 14 adds item 2, two users lack item 0


class TestRandom(BaselineContract):
    ranks_planted_structure = False

    def make_model(self) -> FittedBaseline:
        return RandomRecommender(seed=3)

    def test_users_and_seeds_differ(self, planted: sp.csr_matrix) -> None:
        scores = self.fitted(planted).score(torch.tensor([0, 1]))
        assert not torch.equal(scores[0], scores[1])
        other = RandomRecommender(seed=4)
        other.fit(planted)
        assert not torch.equal(other.score(torch.tensor([0]))[0], scores[0])


class TestItemKNN(BaselineContract):
    def make_model(self) -> FittedBaseline:
        return ItemKNNRecommender(k_neighbors=5, shrinkage=1.0)

    def test_similarity_matches_dense_cosine(self, planted: sp.csr_matrix) -> None:
        x = (planted > 0).astype(np.float64).toarray()
        norms = np.linalg.norm(x, axis=0)
        expected = x.T @ x / (norms[:, None] * norms[None, :] + 2.0)
        np.fill_diagonal(expected, 0.0)
        model = ItemKNNRecommender(k_neighbors=N_ITEMS, shrinkage=2.0)
        model.fit(planted)
        np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-6, atol=1e-7)
        scores = model.score(torch.tensor([4])).numpy()[0]
        np.testing.assert_allclose(scores, x[4] @ expected, rtol=1e-5)

    def test_topk_pruning_and_chunking(self, planted: sp.csr_matrix) -> None:
        x = (planted > 0).astype(np.float32).tocsr()
        whole = topk_cosine_neighbours(x, k=3, shrinkage=1.0)
        chunked = topk_cosine_neighbours(x, k=3, shrinkage=1.0, max_block=N_ITEMS * 2)
        assert (whole != chunked).nnz == 0
        assert np.diff(whole.tocsc().indptr).max() <= 3  # <= k neighbours per target item


class TestEASE(BaselineContract):
    def make_model(self) -> FittedBaseline:
        return EASERecommender(l2=1.0)

    def test_closed_form_3x3(self) -> None:
        x = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
        p = np.linalg.inv(x.T @ x + 2.0 * np.eye(3))
        expected = -p / np.diag(p)[None, :]
        np.fill_diagonal(expected, 0.0)
        for dtype in ("float32", "float64"):
            model = EASERecommender(l2=2.0, dtype=dtype)
            model.fit(sp.csr_matrix(x * 4.0, dtype=np.float32))  # ratings binarised
            np.testing.assert_allclose(model.weights, expected, rtol=1e-5, atol=1e-6)
            scores = model.score(torch.arange(4)).numpy()
            np.testing.assert_allclose(scores, x @ expected, atol=1e-5)

    def test_refuses_large_catalogue(self, planted: sp.csr_matrix) -> None:
        with pytest.raises(ValueError, match="max_items"):
            EASERecommender(max_items=N_ITEMS - 1).fit(planted)


class TestALS(BaselineContract):
    def make_model(self) -> FittedBaseline:
        return ALSRecommender(factors=4, regularization=0.1, iterations=15, alpha=10.0, seed=1)

    def test_factors(self, planted: sp.csr_matrix) -> None:
        model = self.fitted(planted)
        assert isinstance(model, HasFactors)
        users, items = model.user_vectors(), model.item_vectors()
        assert users.shape == (COLD_USER + 1, 4) and items.shape == (N_ITEMS, 4)
        torch.testing.assert_close(model.score(torch.arange(3)), users[:3] @ items.T)

    def test_missing_implicit(
        self, planted: sp.csr_matrix, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "implicit", None)
        monkeypatch.setitem(sys.modules, "implicit.gpu", None)
        with pytest.raises(ImportError, match="pip install implicit"):
            self.make_model().fit(planted)


CONFIGS = {
    "popularity": PopularityRecommender,
    "random": RandomRecommender,
    "itemknn": ItemKNNRecommender,
    "ease": EASERecommender,
    "als": ALSRecommender,
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_hydra_config_instantiates(name: str, planted: sp.csr_matrix) -> None:
    cfg = compose_config("train", [f"model={name}", "seed=7"]).model  # as train.py composes it (seed: the run's)
    model = instantiate(cfg)
    assert type(model) is CONFIGS[name]
    assert model.get_params() == {k: v for k, v in cfg.items() if k != "_target_"}
    if "seed" in cfg:
        assert model.seed == 7
    model.fit(planted)
    assert model.score(torch.tensor([0])).shape == (1, N_ITEMS)


def _recall_at(model: FittedBaseline, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> float:
    scores = model.score(torch.arange(train.shape[0])).numpy().copy()
    scores[train.nonzero()] = -np.inf  # never recommend training items
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    hits = np.take_along_axis(test.toarray() > 0, top, axis=1).sum(axis=1)
    n_test = np.diff(test.indptr)
    return float((hits[n_test > 0] / n_test[n_test > 0]).mean())


@pytest.mark.slow
def test_ml_latest_small_beats_popularity() -> None:
    if not ML_SMALL.exists():
        pytest.skip(f"{ML_SMALL} is absent")
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(ML_SMALL)
    users = df["userId"].astype("category").cat.codes.to_numpy()
    items = df["movieId"].astype("category").cat.codes.to_numpy()
    shape = (int(users.max()) + 1, int(items.max()) + 1)
    rank = pd.Series(np.random.default_rng(0).random(len(df))).groupby(users).rank(pct=True)
    is_test = rank.to_numpy() > 0.8  # a random 20% of each user's ratings

    def matrix(mask: np.ndarray) -> sp.csr_matrix:
        vals = df["rating"].to_numpy(np.float32)[mask]
        return sp.csr_matrix((vals, (users[mask], items[mask])), shape=shape)

    train, test = matrix(~is_test), matrix(is_test)
    recall = {}
    for model in (PopularityRecommender(), RandomRecommender(), ItemKNNRecommender(),
                  EASERecommender(), ALSRecommender()):
        model.fit(train)
        recall[type(model).__name__] = _recall_at(model, train, test, k=20)
    pop = recall["PopularityRecommender"]
    assert recall["EASERecommender"] > pop and recall["ItemKNNRecommender"] > pop, recall
    assert recall["ALSRecommender"] > pop > recall["RandomRecommender"], recall
