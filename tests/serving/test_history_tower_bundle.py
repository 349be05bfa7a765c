"""A history-tower run's bundle embeds new profiles with the trained tower itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.serving.bundle import ServingBundle, write_bundle
from recsys.serving.cache import MemoryCache
from recsys.serving.recommender import Recommender
from recsys.serving.retrievers import exact_retriever


@pytest.fixture(scope="module")
def history_bundle(tmp_path_factory: pytest.TempPathFactory, processed_root: Path, bundled_dataset) -> ServingBundle:
    from recsys.training.run import train
    from tests.compose import compose_train

    run = tmp_path_factory.mktemp("history_run")
    train(compose_train(run, processed_root, ["user_tower=history", "item_tower=id"]))
    return ServingBundle.load(write_bundle(run, tmp_path_factory.mktemp("history_bundle") / "b", version="h1", build_index=False))


def test_the_tower_reproduces_the_exported_vectors_of_known_users(history_bundle: ServingBundle, bundled_split) -> None:
    """Embedding a user's training history (with their features) gives their exported vector."""
    assert history_bundle.manifest["profiles"] == "history_tower" and history_bundle.history_tower is not None
    tower = history_bundle.history_tower["tower"]
    train = bundled_split.train
    for user in range(5):
        rows = train.user_idx == user
        features = None if tower.feature_projection is None else tower.features[user].numpy()
        vector = history_bundle.embed_history(train.item_idx[rows], train.rating[rows], features)
        np.testing.assert_allclose(vector, history_bundle.user_vectors[user], atol=1e-5)


def test_profiles_are_embedded_by_the_tower_not_folded_in(history_bundle: ServingBundle) -> None:
    service = Recommender(history_bundle, exact_retriever(history_bundle), MemoryCache())
    service.fold_in = None  # the history tower must not need the fold-in
    catalog_movies = history_bundle.items.loc[history_bundle.catalog[:12], "movieId"].tolist()
    profile = service.create_profile([(m, 4.5) for m in catalog_movies], k=10)
    assert len(profile.items) == 10 and not set(catalog_movies) & {r.movie_id for r in profile.items}
    pairs = [(history_bundle.item_by_movie[m], 4.5) for m in catalog_movies]
    expected = history_bundle.embed_history(np.array([i for i, _ in pairs]), np.array([r for _, r in pairs]))
    assert np.array_equal(service.profile_vector(pairs), expected)
