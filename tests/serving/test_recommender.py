"""The recommendation logic without BentoML: train-serve consistency, tiers, profiles, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys.evaluation.evaluate import build_task, evaluate_vectors
from recsys.retrieval.base import SearchFilters
from recsys.serving.bundle import ServingBundle
from recsys.serving.cache import MemoryCache
from recsys.serving.recommender import NotFoundError, Recommender, ServingError
from recsys.serving.retrievers import edge_retriever, exact_retriever
from recsys.serving.tiers import BLEND, PERSONAL, POPULAR, TierPolicy
from recsys.training.build import load_split


@pytest.fixture(scope="module")
def bundle(serving_bundle_path) -> ServingBundle:
    return ServingBundle.load(serving_bundle_path)


@pytest.fixture(scope="module")
def offline_test_top10(bundle: ServingBundle, trained_run):
    """The offline evaluation's top-10 of the test split: {userId: [movieId, ...]} for 200 users."""
    cfg = OmegaConf.load(trained_run / "config.yaml")
    data = load_split(cfg.data)
    task = build_task(data, "test", instantiate(cfg.eval))
    _, topk = evaluate_vectors(task, data, torch.from_numpy(bundle.user_vectors), torch.from_numpy(bundle.item_vectors))
    users = task.users.numpy()[:200]
    user_ids = dict(zip(bundle.users["user_idx"], bundle.users["userId"]))
    movie = bundle.items["movieId"]
    return {int(user_ids[u]): [int(movie[task.catalog[p]]) for p in topk[row, :10].tolist()] for row, u in enumerate(users)}


def recommender(bundle: ServingBundle, retriever=None, **kwargs) -> Recommender:
    return Recommender(bundle, retriever or exact_retriever(bundle), MemoryCache(), **kwargs)


def test_exact_serving_equals_offline_evaluation_for_200_users(bundle, offline_test_top10) -> None:
    service = recommender(bundle)
    assert len(offline_test_top10) == 200
    for user_id, expected in offline_test_top10.items():
        served = [r.movie_id for r in service.for_user(user_id, k=10).items]
        assert served == expected, user_id


def test_edge_exact_equals_offline_and_hnsw_recall_at_least_098(bundle, offline_test_top10) -> None:
    edge_exact = recommender(bundle, edge_retriever(bundle, exact=True))
    hnsw = recommender(bundle, edge_retriever(bundle, hnsw_ef=128))
    hits = 0
    for user_id, expected in offline_test_top10.items():
        assert [r.movie_id for r in edge_exact.for_user(user_id, k=10).items] == expected, user_id
        hits += len(set(r.movie_id for r in hnsw.for_user(user_id, k=10).items) & set(expected))
    recall = hits / (10 * len(offline_test_top10))
    assert recall >= 0.98, recall


def test_watched_movies_are_never_recommended_and_filters_hold(bundle) -> None:
    service = recommender(bundle)
    user_id = int(bundle.users["userId"].iloc[0])
    user = bundle.user_by_id[user_id]
    watched = set(bundle.items.loc[bundle.history.loc[bundle.history.user_idx == user, "item_idx"], "movieId"])
    recs = service.for_user(user_id, k=100, filters=SearchFilters(genres=("Comedy",), year_min=1990, year_max=1999)).items
    assert len(recs) == 100
    assert not watched & {r.movie_id for r in recs}
    assert all("Comedy" in r.genres and 1990 <= r.year <= 1999 for r in recs)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)


def test_cache_hit_returns_the_same_list(bundle) -> None:
    service = recommender(bundle)
    user_id = int(bundle.users["userId"].iloc[3])
    first = service.for_user(user_id, k=5)
    second = service.for_user(user_id, k=5)
    assert not first.cached and second.cached
    assert [r.movie_id for r in first.items] == [r.movie_id for r in second.items]


def test_similar_movies_exclude_the_movie_and_rank_by_inner_product(bundle) -> None:
    service = recommender(bundle)
    movie_id = int(bundle.items.loc[bundle.catalog[0], "movieId"])
    recs = service.similar(movie_id, k=10).items
    item = bundle.item_by_movie[movie_id]
    scores = bundle.item_vectors[bundle.catalog] @ bundle.item_vectors[item]
    scores[np.flatnonzero(bundle.catalog == item)] = -np.inf
    expected = bundle.items.loc[bundle.catalog[np.argsort(-scores)[:10]], "movieId"].tolist()
    assert [r.movie_id for r in recs] == expected


def test_profile_tiers_follow_the_number_of_ratings(bundle) -> None:
    service = recommender(bundle, tiers=TierPolicy(blend_from=1, personal_from=5))
    popular = service.create_profile([], k=10)
    assert popular.tier == POPULAR and popular.n_ratings == 0
    most_rated = bundle.items.loc[bundle.catalog].sort_values("popularity", ascending=False, kind="stable")["movieId"].head(10).tolist()
    assert [r.movie_id for r in popular.items] == most_rated
    movies = bundle.items.loc[bundle.catalog].sort_values("popularity", ascending=False)["movieId"].head(8).tolist()
    blend = service.add_ratings(popular.profile_id, [(movies[0], 5.0), (movies[1], 4.5)])
    assert blend.tier == BLEND and blend.profile_id == popular.profile_id and blend.n_ratings == 2
    assert not {movies[0], movies[1]} & {r.movie_id for r in blend.items}  # rated movies are excluded
    personal = service.add_ratings(popular.profile_id, [(m, 4.0) for m in movies[2:8]])
    assert personal.tier == PERSONAL and personal.n_ratings == 8
    again = service.for_profile(popular.profile_id)
    assert [r.movie_id for r in again.items] == [r.movie_id for r in personal.items]


def test_fold_in_vector_ranks_like_the_trained_vector(bundle) -> None:
    """A known user's ratings folded in give a vector that agrees with their trained one."""
    service = recommender(bundle)
    agreements = []
    for user in bundle.users["user_idx"].head(30):
        rows = bundle.history[(bundle.history.user_idx == user) & bundle.history.item_idx.isin(bundle.catalog)]
        pairs = list(zip(rows.item_idx.tolist(), rows.rating.tolist()))
        folded = service.profile_vector(pairs)
        trained = bundle.user_vectors[user]
        agreements.append(float(folded @ trained / (np.linalg.norm(folded) * np.linalg.norm(trained))))
    assert np.mean(agreements) > 0.5, agreements


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda s: s.for_user(-5), NotFoundError, "unknown user_id"),
        (lambda s: s.for_user(1, k=0), ServingError, "1 to 100"),
        (lambda s: s.for_user(1, k=101), ServingError, "1 to 100"),
        (lambda s: s.for_user(1, k=-3), ServingError, "1 to 100"),
        (lambda s: s.similar(10**9), NotFoundError, "unknown movie_id"),
        (lambda s: s.create_profile([(1, 5.5)]), ServingError, "0.5 to 5.0"),
        (lambda s: s.create_profile([(1, 3.3)]), ServingError, "steps of 0.5"),
        (lambda s: s.create_profile([(1, 0.0)]), ServingError, "0.5 to 5.0"),
        (lambda s: s.create_profile([(10**9, 4.0)]), NotFoundError, "unknown movie_id"),
        (lambda s: s.create_profile([(1, 4.0)] * 201), ServingError, "at most 200"),
        (lambda s: s.for_profile("nope"), NotFoundError, "unknown or expired profile_id"),
    ],
)
def test_bad_input_is_refused_with_what_to_send(bundle, call, error, words) -> None:
    service = recommender(bundle)
    with pytest.raises(error, match=words):
        call(service)
    assert service.for_user(int(bundle.users["userId"].iloc[0]), k=3).items  # still serving


def test_expired_profile_is_refused(bundle) -> None:
    from recsys.serving.recommender import Limits

    service = recommender(bundle, limits=Limits(profile_ttl=0.2))
    profile = service.create_profile([(int(bundle.items.loc[bundle.catalog[0], "movieId"]), 4.0)])
    import time

    time.sleep(0.4)
    with pytest.raises(NotFoundError, match="expired"):
        service.for_profile(profile.profile_id)


def test_sampled_fold_in_stays_close_to_the_full_softmax(bundle) -> None:
    """Above max_catalog the softmax runs over the rated items and a corrected uniform sample."""
    from recsys.serving.foldin import FoldIn

    catalog = bundle.catalog
    vectors = bundle.item_vectors[catalog]
    position = {int(i): p for p, i in enumerate(catalog)}
    full, sampled = FoldIn(max_catalog=10**9), FoldIn(max_catalog=2000)
    cosines = []
    for user in bundle.users["user_idx"].head(20):
        rows = bundle.history[(bundle.history.user_idx == user) & bundle.history.item_idx.isin(catalog)]
        positions = np.array([position[int(i)] for i in rows.item_idx])
        a, b = full(vectors, positions, rows.rating.to_numpy()), sampled(vectors, positions, rows.rating.to_numpy())
        assert np.array_equal(b, sampled(vectors, positions, rows.rating.to_numpy()))  # seeded by the ratings
        cosines.append(float(a @ b))
    assert np.mean(cosines) > 0.95, cosines
