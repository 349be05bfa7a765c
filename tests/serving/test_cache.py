"""The serving cache, both backends against the same tests: in-process and a real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from hydra.utils import instantiate
from omegaconf import OmegaConf

import recsys
from recsys.serving.cache import Cache, CacheUnavailableError, MemoryCache, RedisCache, cache_key
from tests.helpers_redis import free_port, running_redis

CACHE_CONFIGS = sorted((recsys.REPO_ROOT / "conf" / "serve" / "cache").glob("*.yaml"))


@pytest.fixture(params=["memory", "redis"])
def make_cache(request: pytest.FixtureRequest) -> Iterator[Callable[..., Cache]]:
    """Builds caches of one backend; Redis ones are flushed (their prefix only) afterwards."""
    made: list[Cache] = []

    def make(**kwargs) -> Cache:
        if request.param == "memory":
            cache: Cache = MemoryCache(**kwargs)
        else:
            cache = RedisCache.from_url(request.getfixturevalue("redis_url"), **kwargs)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        if isinstance(cache, RedisCache):
            cache.flush()
            cache.client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.flushdb()  # the test server only
    client.close()


def test_set_get_delete_round_trip(make_cache) -> None:
    cache = make_cache()
    assert cache.get("missing") is None
    cache.set("a", {"x": 1})
    assert cache.get("a") == {"x": 1}
    cache.set("a", [1, 2])
    assert cache.get("a") == [1, 2]
    cache.delete("a")
    cache.delete("a")  # absent: no error
    assert cache.get("a") is None


def test_json_round_trip_of_nested_values(make_cache) -> None:
    cache = make_cache()
    value = {
        "items": [{"item_idx": 3, "score": 0.25, "title": "Heat", "genres": ["Action", "Crime"], "year": None}],
        "k": 10, "explain": {"nearest": [[1, 0.5], [2, -1.5e-3]]}, "note": "naïve ✓", "flag": True,
    }  # fmt: skip
    cache.set("rec", value)
    got = cache.get("rec")
    assert got == value
    got["items"].clear()  # the caller's copy: the cached value does not change
    assert cache.get("rec") == value
    cache.set("t", (1, 2))
    assert cache.get("t") == [1, 2]  # JSON: tuples come back as lists in both backends
    for scalar in (0, 1.5, "s", False):
        cache.set("s", scalar)
        assert cache.get("s") == scalar


def test_per_entry_ttl_and_default_ttl(make_cache) -> None:
    cache = make_cache(ttl=600.0)
    short_default = make_cache(ttl=0.3)
    cache.set("short", 1, ttl=0.3)
    cache.set("long", 2)
    short_default.namespace("d").set("x", 3)
    assert cache.get("short") == 1
    time.sleep(0.45)
    assert cache.get("short") is None
    assert cache.get("long") == 2
    assert short_default.namespace("d").get("x") is None


def test_new_model_version_misses(make_cache) -> None:
    cache = make_cache()
    v1, v2 = cache.namespace("20240101-a"), cache.namespace("20240102-b")
    key = cache_key("recommend", 7, 10, {"genres": ["Action"]})
    v1.set(key, [5, 3, 1])
    assert v1.get(key) == [5, 3, 1]
    assert v2.get(key) is None  # a re-index never serves the old version's answer
    assert cache.namespace("20240101-a").get(key) == [5, 3, 1]
    v2.set(key, [9])
    assert v1.flush() == 1  # dropping the old version leaves the new one
    assert v1.get(key) is None and v2.get(key) == [9]


def test_flush_removes_only_its_own_prefix(make_cache) -> None:
    cache = make_cache()
    cache.namespace("v1").set(cache_key("recommend", 1), [1])
    cache.namespace("v1").set(cache_key("onboarding", "drama"), {"vector": [0.1]})
    cache.namespace("v2").set(cache_key("recommend", 1), [2])
    assert cache.flush() == 3
    assert cache.namespace("v1").get(cache_key("recommend", 1)) is None
    assert cache.flush() == 0
    bulk = cache.namespace("bulk")  # more than one DEL batch
    for i in range(1200):
        bulk.set(str(i), i)
    assert bulk.flush() == 1200


def test_redis_flush_keeps_foreign_keys_and_stores_json(redis_url: str, redis_client: redis.Redis) -> None:
    foreign = {b"other:1": b"x", b"recsysX:v1:recommend:1": b"y", b"recsys_old:1": b"z", b"recsys": b"w"}
    for k, v in foreign.items():
        redis_client.set(k, v)
    cache = RedisCache.from_url(redis_url)
    v1 = cache.namespace("v:1")
    v1.set(cache_key("recommend", 7, 10), {"items": [3]})
    assert redis_client.get(b"recsys:v%3A1:recommend:7:10") == b'{"items":[3]}'  # JSON text, never a pickle
    assert 0 < redis_client.pttl(b"recsys:v%3A1:recommend:7:10") <= 600_000
    redis_client.set(b"recsys:v%3A1:bad", b"\x80\x04 not JSON")  # e.g. a pickle: never loaded
    assert v1.get("bad") is None and cache.stats()["errors"] == 1
    assert cache.flush() == 2
    assert {k: redis_client.get(k) for k in foreign} == foreign
    glob = RedisCache(redis_client, prefix="re*[c]")  # glob characters in a prefix match literally
    glob.set("k", 1)
    assert glob.flush() == 1 and redis_client.get(b"recsys") == b"w"
    cache.client.close()


def test_cache_key_layout_and_escaping() -> None:
    assert cache_key("recommend", 7, 10) == "recommend:7:10"
    assert cache_key("onboarding", "a:b", "50%") == "onboarding:a%3Ab:50%25"
    assert cache_key("f", {"b": 1, "a": [2]}) == cache_key("f", {"a": [2], "b": 1}) == 'f:{"a"%3A[2],"b"%3A1}'
    assert cache_key("x", "a:b", "c") != cache_key("x", "a", "b:c")
    with pytest.raises(ValueError, match="kind"):
        cache_key("")


def test_hit_and_miss_stats(make_cache) -> None:
    cache = make_cache()
    version = cache.namespace("v1")
    assert cache.stats()["hit_rate"] == 0.0
    version.get("a")
    version.set("a", 1)
    version.get("a")
    cache.get("b")
    cache.set("b", 2)
    cache.get("b")
    stats = cache.stats()
    assert stats == version.stats()  # namespaces share the counters
    assert (stats["hits"], stats["misses"], stats["errors"]) == (2, 2, 0)
    assert stats["hit_rate"] == 0.5 and stats["backend"] in ("memory", "redis")


def test_constructor_and_call_validation(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match=r"serve\.cache\.maxsize=0 is below 1\. Fix"):
        MemoryCache(maxsize=0)
    with pytest.raises(ValueError, match=r"serve\.cache\.maxsize=1\.5 is not an integer"):
        MemoryCache(maxsize=1.5)
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match=r"serve\.cache\.ttl=.* is not positive.* serve\.cache\.ttl=600"):
            MemoryCache(ttl=bad)
    with pytest.raises(ValueError, match=r"serve\.cache\.ttl='10' is not a number"):
        RedisCache(redis_client, ttl="10")
    for bad_prefix in ("", "  "):
        with pytest.raises(ValueError, match=r"serve\.cache\.prefix=.* is empty\. Fix: .*prefix=recsys"):
            RedisCache(redis_client, prefix=bad_prefix)
    cache = MemoryCache()
    with pytest.raises(ValueError, match="ttl=0"):
        cache.set("a", 1, ttl=0)
    with pytest.raises(ValueError, match="None cannot be cached"):
        cache.set("a", None)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        cache.set("a", {"x": object()})
    with pytest.raises(ValueError, match="non-empty"):
        cache.namespace("")
    with pytest.raises(ValueError, match="non-empty"):
        cache.get("")


def test_from_url_on_a_closed_port_names_the_url_and_the_fix() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(CacheUnavailableError, match="did not answer PING") as info:
        RedisCache.from_url(url, timeout=0.5)
    message = str(info.value)
    assert url in message and "apt-get install redis-server" in message and "cache=memory" in message
    with pytest.raises(CacheUnavailableError) as info:
        RedisCache.from_url(f"redis://user:s3cret@127.0.0.1:{free_port()}/0", timeout=0.5)
    assert "s3cret" not in str(info.value) and "user:***@127.0.0.1" in str(info.value)


def test_redis_outage_degrades_reads_and_writes() -> None:
    with running_redis() as url:  # a server of its own, stopped under the cache
        cache = RedisCache.from_url(url, timeout=0.5)
        cache.set("a", 1)
        assert cache.get("a") == 1
    start = time.monotonic()
    assert cache.get("a") is None
    cache.set("a", 2)  # no error: serving goes on without the cache
    assert time.monotonic() - start < 3.0  # one quick retry, not redis-py's default ten with backoff
    assert cache.stats()["errors"] == 2
    with pytest.raises(redis.ConnectionError):
        cache.flush()  # administrative: raises
    cache.client.close()


def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1
    cache.set("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_memory_cache_is_thread_safe() -> None:
    cache = MemoryCache(maxsize=50, ttl=5.0)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(400):
                cache.set(f"{worker}:{i % 60}", i, ttl=0.001 if i % 7 == 0 else None)
                cache.get(f"{(worker + 1) % 8}:{i % 60}")
                if i % 50 == 0:
                    cache.namespace(str(worker)).flush()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 8 * 400


@pytest.mark.parametrize("path", CACHE_CONFIGS, ids=lambda p: p.stem)
def test_every_cache_config_instantiates(path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_REDIS_URL", redis_url)
    cache = instantiate(OmegaConf.load(path))
    assert isinstance(cache, Cache) and cache.backend == path.stem
    versioned = cache.namespace("cfg-test")
    versioned.set(cache_key("recommend", 1), [1, 2])
    assert versioned.get(cache_key("recommend", 1)) == [1, 2]
    assert versioned.flush() == 1


def test_cache_configs_are_the_two_options() -> None:
    assert [p.stem for p in CACHE_CONFIGS] == ["memory", "redis"]
