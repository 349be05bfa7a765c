"""EASE served as an item-item bundle: offline test ranking = served ranking, profiles, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hydra.utils import instantiate

from recsys.evaluation.evaluate import build_task, evaluate_scorer
from recsys.serving.bundle import ITEM_ITEM, BundleError, ServingBundle, write_bundle
from recsys.serving.cache import MemoryCache
from recsys.serving.recommender import Recommender
from recsys.serving.retrievers import edge_retriever, exact_retriever
from recsys.serving.tiers import PERSONAL, POPULAR
from recsys.training.run import train
from tests.compose import compose_train


@pytest.fixture(scope="module")
def ease_run(tmp_path_factory: pytest.TempPathFactory, processed_root, bundled_dataset):
    """(run_dir, cfg, fitted model, split data) of EASE trained on the bundled data."""
    run_dir = tmp_path_factory.mktemp("ease_run")
    cfg = compose_train(run_dir, processed_root, ["model=ease"])
    _, objects = train(cfg)
    return run_dir, cfg, objects["model"], objects["data"]


@pytest.fixture(scope="module")
def bundle(ease_run, tmp_path_factory: pytest.TempPathFactory) -> ServingBundle:
    out = tmp_path_factory.mktemp("ease_bundle") / "recsys"
    return ServingBundle.load(write_bundle(ease_run[0], out, version="e1", build_index=False))


@pytest.fixture(scope="module")
def service(bundle: ServingBundle) -> Recommender:
    return Recommender(bundle, exact_retriever(bundle), MemoryCache())


def test_bundle_is_item_item_in_float32(bundle: ServingBundle, ease_run) -> None:
    _, _, model, data = ease_run
    assert bundle.kind == ITEM_ITEM and bundle.manifest["binarize"] is True
    assert bundle.item_vectors.dtype == bundle.user_vectors.dtype == np.float32
    assert bundle.item_vectors.shape == (data.n_items, data.n_items) == (bundle.dim, bundle.dim)
    np.testing.assert_array_equal(bundle.item_vectors[7], model.weights[:, 7])  # item_vectors[j] = B[:, j]
    assert not bundle.edge_index.exists()


def test_exact_serving_equals_offline_test_top10_for_100_users(bundle, service, ease_run) -> None:
    _, cfg, model, data = ease_run
    task = build_task(data, "test", instantiate(cfg.eval))
    _, topk = evaluate_scorer(task, data, model.score)
    user_ids = dict(zip(bundle.users["user_idx"], bundle.users["userId"]))
    movie = bundle.items["movieId"]
    for row, user in enumerate(task.users.numpy()[:100].tolist()):
        expected = [int(movie[task.catalog[p]]) for p in topk[row, :10].tolist()]
        assert [r.movie_id for r in service.for_user(int(user_ids[user]), k=10).items] == expected, user


def test_profile_of_a_users_train_ratings_ranks_like_the_user(bundle, service, ease_run) -> None:
    """A profile holding a user's train ratings is that user's row x_u: the same vector, the same list."""
    data = ease_run[3]
    counts = np.bincount(data.train.user_idx, minlength=data.n_users)
    user = int(np.flatnonzero((counts >= 20) & (counts <= 200))[0])  # personal tier, one request
    mine = data.train.user_idx == user
    items, ratings = data.train.item_idx[mine], data.train.rating[mine]
    movie = bundle.items["movieId"]
    profile = service.create_profile([(int(movie[i]), float(r)) for i, r in zip(items, ratings)], k=10)
    np.testing.assert_array_equal(service.profile_vector(list(zip(items.tolist(), ratings.tolist()))), bundle.user_vectors[user])
    known = service._search(bundle.user_vectors[user], 10, items, None)  # the user, train excluded as in the profile
    assert profile.tier == PERSONAL
    assert [r.movie_id for r in profile.items] == [int(movie[i]) for i in known.ids[0]]


def test_empty_profile_is_the_popular_tier(service) -> None:
    recs = service.create_profile([], k=5)
    assert recs.tier == POPULAR and len(recs.items) == 5


def test_edge_retriever_refuses_an_item_item_bundle(bundle) -> None:
    with pytest.raises(BundleError, match='RECSYS_SERVE="retriever=exact"'):
        edge_retriever(bundle)


@pytest.mark.parametrize("model", ["popularity", "itemknn"])
def test_other_baselines_are_not_packaged_yet(model: str, tmp_path, processed_root, bundled_dataset) -> None:
    cfg = compose_train(tmp_path / "run", processed_root, [f"model={model}"])
    train(cfg)
    with pytest.raises(BundleError, match="not packaged yet: packaged are two-tower runs .* and EASE"):
        write_bundle(tmp_path / "run", tmp_path / "bundle", version="x1", build_index=False)
    assert not (tmp_path / "bundle" / "manifest.json").exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())  # the run itself is intact
