"""The BentoML service as a user calls it: a real ``bentoml serve`` of ``service.py`` on a model
packaged by ``recsys-package``, over HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from recsys.serving.bundle import ServingBundle
from tests.helpers_bentoml import package, running_service


def post(url: str, path: str, body: object, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=30, **kwargs)


def error_text(response: httpx.Response) -> str:
    body = response.json()
    body = body[0] if isinstance(body, list) else body
    return f"{body.get('error', '')} {body.get('detail', '')} {body.get('detail', '') and ''}"


@pytest.fixture(scope="module")
def bundle(bentoml_home: Path) -> ServingBundle:
    tag = (bentoml_home / ".tag").read_text()
    name, version = tag.split(":")
    return ServingBundle.load(bentoml_home / "models" / name / version)


def test_every_endpoint_answers_and_is_in_the_openapi(service_url: str, bundle: ServingBundle) -> None:
    paths = set(httpx.get(f"{service_url}/docs.json").json()["paths"])
    assert {"/recommend", "/similar", "/onboarding", "/profile", "/profile/rate", "/profile/recommend", "/personas"} <= paths
    user_id = int(bundle.users["userId"].iloc[0])
    recs = post(service_url, "/recommend", {"user_id": user_id, "k": 10, "explain": True}).json()
    assert len(recs["items"]) == 10 and recs["tier"] == "personal" and recs["model_version"] == bundle.version
    assert all(item["explanation"] and item["explanation_source"] == "template" for item in recs["items"])
    movie_id = recs["items"][0]["movie_id"]
    similar = post(service_url, "/similar", {"movie_id": movie_id, "k": 5}).json()
    assert len(similar["items"]) == 5 and movie_id not in [m["movie_id"] for m in similar["items"]]
    onboarding = post(service_url, "/onboarding", {}).json()
    assert 10 <= len(onboarding["movies"]) <= 20
    ratings = [{"movie_id": m["movie_id"], "rating": 4.5} for m in onboarding["movies"][:3]]
    profile = post(service_url, "/profile", {"ratings": ratings, "k": 10}).json()
    assert profile["n_ratings"] == 3 and profile["profile_id"]
    rated = post(service_url, "/profile/rate", {"profile_id": profile["profile_id"], "ratings": [{"movie_id": m["movie_id"], "rating": 4.0} for m in onboarding["movies"][3:12]]}).json()
    from recsys.serving.app import serve_config

    tiers = serve_config().tiers  # thresholds measured in experiments/cold_start.md
    assert rated["n_ratings"] == 12 and rated["tier"] == ("personal" if 12 >= tiers.personal_from else "blend")
    assert rated["ratings_until_personal"] == max(0, tiers.personal_from - 12)
    again = post(service_url, "/profile/recommend", {"profile_id": profile["profile_id"], "k": 10}).json()
    assert [m["movie_id"] for m in again["items"]] == [m["movie_id"] for m in rated["items"]]
    assert not {m["movie_id"] for m in onboarding["movies"][:12]} & {m["movie_id"] for m in rated["items"]}
    personas = post(service_url, "/personas", {}).json()["personas"]
    assert len(personas) == 4 and len({p["user_id"] for p in personas}) == 4
    for persona in personas:
        assert post(service_url, "/recommend", {"user_id": persona["user_id"], "k": 3}).status_code == 200
    assert httpx.get(f"{service_url}/metrics").status_code == 200
    assert "bentoml_service_request" in httpx.get(f"{service_url}/metrics").text


def test_known_user_top10_over_http_matches_exact_search(service_url: str, bundle: ServingBundle) -> None:
    """200 users through the default Edge HNSW index: recall@10 against exact search >= 0.98."""
    from recsys.serving.cache import MemoryCache
    from recsys.serving.recommender import Recommender
    from recsys.serving.retrievers import exact_retriever

    exact = Recommender(bundle, exact_retriever(bundle), MemoryCache())
    hits = 0
    users = bundle.users["userId"].head(200).tolist()
    for user_id in users:
        served = [m["movie_id"] for m in post(service_url, "/recommend", {"user_id": int(user_id), "k": 10}).json()["items"]]
        hits += len(set(served) & {r.movie_id for r in exact.for_user(int(user_id), 10).items})
    assert hits / (10 * len(users)) >= 0.98


BAD_INPUT = [
    ("/recommend", {"user_id": 10**8}, 404, "unknown user_id"),
    ("/recommend", {"user_id": 1, "k": 0}, 400, "greater than or equal to 1"),
    ("/recommend", {"user_id": 1, "k": -4}, 400, "greater than or equal to 1"),
    ("/recommend", {"user_id": 1, "k": 101}, 400, "less than or equal to 100"),
    ("/recommend", {"user_id": "one"}, 400, "valid integer"),
    ("/recommend", {}, 400, "Field required"),
    ("/recommend", {"user_id": 1, "year_min": 2000, "year_max": 1990}, 400, "year_min"),
    ("/recommend", {"user_id": 1, "colour": "red"}, 400, "colour"),
    ("/recommend", {"user_id": 1, "genres": ["Nope"]}, 400, "unknown genres ['Nope']: use any of"),
    ("/similar", {"movie_id": 10**8}, 404, "unknown movie_id"),
    ("/profile", {"ratings": [{"movie_id": 1, "rating": 5.5}]}, 400, "less than or equal to 5"),
    ("/profile", {"ratings": [{"movie_id": 1, "rating": 0}]}, 400, "greater than or equal to 0.5"),
    ("/profile", {"ratings": [{"movie_id": 1, "rating": 3.3}]}, 400, "multiple of 0.5"),
    ("/profile", {"ratings": [{"movie_id": 10**8, "rating": 4}]}, 404, "unknown movie_id"),
    ("/profile", {"ratings": [{"movie_id": 1, "rating": 4}] * 201}, 400, "at most 200"),
    ("/profile/recommend", {"profile_id": "no-such-profile"}, 404, "unknown or expired profile_id"),
    ("/profile/rate", {"profile_id": "no-such-profile", "ratings": [{"movie_id": 1, "rating": 4}]}, 404, "unknown or expired"),
    ("/profile/rate", {"profile_id": "x", "ratings": []}, 400, "at least 1"),
]


@pytest.mark.parametrize(("path", "body", "status", "words"), BAD_INPUT, ids=[f"{p}-{i}" for i, (p, *_) in enumerate(BAD_INPUT)])
def test_bad_input_gets_a_4xx_that_says_what_to_send(service_url: str, path: str, body: dict, status: int, words: str) -> None:
    response = post(service_url, path, body)
    assert response.status_code == status, response.text
    assert words in response.text, response.text
    assert post(service_url, "/recommend", {"user_id": 1, "k": 1}).status_code == 200  # still serving


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"{not json", 400, "Invalid JSON"),
        (b"", 400, "Field required"),
        (b'{"user_id": 1, "genres": [' + b",".join([b'"Drama"'] * 20000) + b"]}", 413, "over the limit"),
    ],
    ids=["malformed", "empty", "oversized"],
)
def test_malformed_empty_and_oversized_bodies(service_url: str, content: bytes, status: int, words: str) -> None:
    response = httpx.post(f"{service_url}/recommend", content=content, headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == status and words in response.text, response.text


def test_a_body_that_is_not_json_gets_415(service_url: str) -> None:
    response = httpx.post(f"{service_url}/recommend", content=b'{"user_id": 1}', headers={"content-type": "multipart/form-data"}, timeout=30)
    assert response.status_code == 415 and "application/json" in response.text


def test_admin_actions_need_the_token(service_url: str) -> None:
    assert post(service_url, "/admin/flush_cache", {}).status_code == 401
    wrong = post(service_url, "/admin/flush_cache", {}, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and "Authorization: Bearer" in wrong.json()["detail"]
    post(service_url, "/recommend", {"user_id": 2, "k": 4})
    assert post(service_url, "/recommend", {"user_id": 2, "k": 4}).json()["cached"] is True
    flushed = post(service_url, "/admin/flush_cache", {}, headers={"Authorization": "Bearer test-token"})
    assert flushed.status_code == 200 and flushed.json()["ok"]
    assert post(service_url, "/recommend", {"user_id": 2, "k": 4}).json()["cached"] is False


def test_admin_is_disabled_without_a_token(bentoml_home: Path, tmp_path: Path) -> None:
    with running_service(bentoml_home, tmp_path / "serve.log", RECSYS_ADMIN_TOKEN="") as url:
        refused = post(url, "/admin/reindex", {"model_tag": "recsys:latest"}, headers={"Authorization": "Bearer guess"})
        assert refused.status_code == 403 and "RECSYS_ADMIN_TOKEN" in refused.json()["detail"]


def test_readyz_fails_until_the_index_is_loaded(bentoml_home: Path, tmp_path: Path) -> None:
    """A model whose index cannot be opened never becomes ready; the endpoints answer 503."""
    with running_service(bentoml_home, tmp_path / "serve.log", ready=False, RECSYS_SERVE="retriever.hnsw_ef=0") as url:
        assert httpx.get(f"{url}/livez").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503
        assert post(url, "/recommend", {"user_id": 1}).status_code == 503


@pytest.mark.slow  # trains and packages a second model (about 100 s here)
def test_reindex_under_load_fails_no_request_and_mixes_no_results(
    bentoml_home: Path, trained_run: Path, tmp_path: Path, processed_root: Path
) -> None:
    """Swap to a second model while clients keep asking: every answer is whole and from one model."""
    from recsys.training.run import train
    from tests.compose import compose_train

    second_run = tmp_path / "second"
    train(compose_train(second_run, processed_root, ["seed=7", "trainer.max_epochs=2"]))
    second_tag = package(second_run, bentoml_home)
    first = ServingBundle.load(bentoml_home / "models" / "recsys" / (bentoml_home / ".tag").read_text().split(":")[1])
    second = ServingBundle.load(bentoml_home / "models" / "recsys" / second_tag.split(":")[1])
    users = [int(u) for u in first.users["userId"].head(20)]
    with running_service(bentoml_home, tmp_path / "serve.log", RECSYS_ADMIN_TOKEN="t", RECSYS_MODEL=(bentoml_home / ".tag").read_text()) as url:
        expected = {}
        failures: list[str] = []
        answers: list[tuple[str, int, list[int]]] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(timeout=30) as http:
                i = 0
                while not stop.is_set():
                    user = users[i % len(users)]
                    i += 1
                    response = http.post(f"{url}/recommend", json={"user_id": user, "k": 10})
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text}")
                        continue
                    body = response.json()
                    answers.append((body["model_version"], user, [m["movie_id"] for m in body["items"]]))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        swap = post(url, "/admin/reindex", {"model_tag": second_tag}, headers={"Authorization": "Bearer t"})
        threading.Event().wait(3.0)
        stop.set()
        for thread in threads:
            thread.join()
    assert swap.status_code == 200 and swap.json()["model_version"] == second.version, swap.text
    assert failures == []
    versions = [v for v, _, _ in answers]
    assert first.version in versions and second.version in versions
    assert versions.index(second.version) > 0 and first.version not in versions[versions.index(second.version) + 8 :]
    from recsys.serving.cache import MemoryCache
    from recsys.serving.recommender import Recommender
    from recsys.serving.retrievers import exact_retriever

    for bundle in (first, second):
        exact = Recommender(bundle, exact_retriever(bundle), MemoryCache())
        expected[bundle.version] = {u: [r.movie_id for r in exact.for_user(u, 10).items] for u in users}
    mismatched = [(v, u) for v, u, movies in answers if len(set(movies) & set(expected[v][u])) < 9]
    assert not mismatched, mismatched[:5]  # each answer is one model's top-10 (HNSW: at most one item differs)
    assert np.mean([movies == expected[v][u] for v, u, movies in answers]) > 0.9


def test_redis_cache_serves_repeated_requests(bentoml_home: Path, tmp_path: Path, redis_url: str) -> None:
    import redis

    with running_service(bentoml_home, tmp_path / "serve.log", RECSYS_SERVE="cache=redis", RECSYS_REDIS_URL=redis_url) as url:
        first = post(url, "/recommend", {"user_id": 3, "k": 5}).json()
        second = post(url, "/recommend", {"user_id": 3, "k": 5}).json()
    assert first["cached"] is False and second["cached"] is True and first["items"] == second["items"]
    keys = [k.decode() for k in redis.Redis.from_url(redis_url).keys("*")]
    assert any(first["model_version"] in k for k in keys), keys  # keys carry the model version
