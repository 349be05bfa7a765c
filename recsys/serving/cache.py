"""The serving cache: in-process by default (``cache=memory``), Redis when configured (``cache=redis``).

Keys carry the model version: the service binds ``cache.namespace(version)`` once per loaded model
and builds keys with :func:`cache_key`, so every stored key reads ``recsys:<version>:<kind>:<parts>``
and a re-index (a new version) never reads the old model's results. Values are JSON (dicts, lists,
numbers, strings) in both backends: a caller cannot mutate a cached object, and Redis never holds
pickles (untrusted bytes must not be unpickled).

Reads and writes degrade: when Redis fails, ``get`` is a miss and ``set`` does nothing (both
counted as ``errors`` in :meth:`Cache.stats` and logged), so a cache outage slows serving down
instead of failing it. ``delete`` and ``flush`` are administrative and raise.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from cachetools import TLRUCache
from redis.backoff import NoBackoff
from redis.retry import Retry

from recsys.data.settings import check_int, check_number

log = logging.getLogger(__name__)

ROOT = "recsys"
_GLOB = re.compile(r"([*?\[\]\\])")
_ABSENT = object()


class CacheUnavailableError(RuntimeError):
    """The configured cache server cannot be reached."""


def _escape(part: str) -> str:
    """One key component: ``%`` and ``:`` percent-encoded, so components never run together."""
    return part.replace("%", "%25").replace(":", "%3A")


def _component(part: object) -> str:
    if isinstance(part, (dict, list, tuple)):
        part = json.dumps(part, sort_keys=True, separators=(",", ":"))
    return _escape(str(part))


def cache_key(kind: str, *parts: object) -> str:
    """The key of one cached answer, relative to a (versioned) cache namespace.

    Args:
        kind: what is cached, e.g. ``"recommend"`` or ``"onboarding"``.
        *parts: what the answer depends on (user id, k, filters...). Scalars are written with
            ``str``; dicts, lists and tuples as sorted compact JSON, so equal filters give equal keys.

    Returns:
        ``<kind>:<part>:<part>...`` with ``:`` and ``%`` inside components percent-encoded.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"cache key kind must be a non-empty string, got {kind!r}")
    return ":".join([_escape(kind), *(_component(p) for p in parts)])


def _check_ttl(setting: str, value: Any) -> None:
    check_number(setting, value, 600.0)
    if not value > 0:
        raise ValueError(f"{setting}={value!r} is not positive (seconds). Fix: e.g. {setting}=600")


def _encode(value: Any) -> str:
    if value is None:
        raise ValueError("None cannot be cached: get() returns None for a miss")
    try:
        return json.dumps(value, separators=(",", ":"))
    except TypeError as exc:
        raise TypeError(f"cache values must be JSON-serialisable (dicts, lists, numbers, strings): {exc}") from exc


class _Counters:
    """Hit, miss and error counts shared by a cache and its namespaces (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits = self.misses = self.errors = 0

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class Cache(ABC):
    """A JSON key-value cache with TTLs, under a key prefix (its namespace).

    Subclasses implement storage of encoded strings under full keys (``<prefix>:<key>``);
    :meth:`namespace` returns a view on the same storage with a longer prefix.
    """

    backend = "abstract"

    def __init__(self, prefix: str, ttl: float) -> None:
        self.prefix = prefix
        self.ttl = float(ttl)
        self._counters = _Counters()

    def namespace(self, version: str) -> Cache:
        """A view of this cache whose keys start with ``<prefix>:<version>:``.

        The view shares storage and counters with this cache; its :meth:`flush` removes only that
        version's keys.
        """
        if not isinstance(version, str) or not version:
            raise ValueError(f"cache namespace (model version) must be a non-empty string, got {version!r}")
        view = copy.copy(self)
        view.prefix = f"{self.prefix}:{_escape(version)}"
        return view

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or None when absent or expired."""
        raw = self._read(self._full(key))
        if raw is not None:
            try:
                value = json.loads(raw)
            except ValueError:  # not written by this cache (JSON only): a miss, never an exception
                self._counters.add("errors")
                log.warning("cache entry %s is not JSON; treated as a miss", self._full(key))
            else:
                self._counters.add("hits")
                return value
        self._counters.add("misses")
        return None

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` (JSON-serialisable, not None) for ``ttl`` seconds (default: the cache's)."""
        if ttl is not None:
            _check_ttl("ttl", ttl)
        self._write(self._full(key), _encode(value), self.ttl if ttl is None else float(ttl))

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._remove(self._full(key))

    def flush(self) -> int:
        """Remove every key of this cache's namespace (and only those); returns how many."""
        return self._remove_prefix(self.prefix + ":")

    def stats(self) -> dict[str, Any]:
        """Hits, misses and errors since start (shared with namespaces), and the hit rate."""
        c = self._counters
        with c.lock:
            lookups = c.hits + c.misses
            return {"backend": self.backend, "hits": c.hits, "misses": c.misses, "errors": c.errors,
                    "hit_rate": c.hits / lookups if lookups else 0.0}  # fmt: skip

    def _full(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"cache keys are non-empty strings (see cache_key), got {key!r}")
        return f"{self.prefix}:{key}"

    @abstractmethod
    def _read(self, full_key: str) -> str | bytes | None: ...

    @abstractmethod
    def _write(self, full_key: str, data: str, ttl: float) -> None: ...

    @abstractmethod
    def _remove(self, full_key: str) -> None: ...

    @abstractmethod
    def _remove_prefix(self, prefix: str) -> int: ...


class MemoryCache(Cache):
    """An in-process LRU cache with per-entry expiry (``cachetools.TLRUCache``), thread-safe.

    Args:
        maxsize: most entries held; the least recently used go first (``serve.cache.maxsize``).
        ttl: default seconds an entry lives (``serve.cache.ttl``); ``set(..., ttl=)`` overrides it.
    """

    backend = "memory"

    def __init__(self, maxsize: int = 100_000, ttl: float = 600.0) -> None:
        check_int("serve.cache.maxsize", maxsize, 100_000, minimum=1)
        _check_ttl("serve.cache.ttl", ttl)
        super().__init__(ROOT, ttl)
        self.maxsize = maxsize
        # Entries are (json, ttl); an entry expires at its insertion time plus its own ttl.
        self._store: TLRUCache = TLRUCache(maxsize, ttu=lambda _key, entry, now: now + entry[1], timer=time.monotonic)
        self._lock = threading.RLock()

    def _read(self, full_key: str) -> str | None:
        with self._lock:
            entry = self._store.get(full_key)
        return None if entry is None else entry[0]

    def _write(self, full_key: str, data: str, ttl: float) -> None:
        with self._lock:
            self._store[full_key] = (data, ttl)

    def _remove(self, full_key: str) -> None:
        with self._lock:
            self._store.pop(full_key, None)

    def _remove_prefix(self, prefix: str) -> int:
        with self._lock:
            self._store.expire()
            keys = [k for k in self._store.keys() if k.startswith(prefix)]
            # An entry may expire between the listing and its removal: count only what was removed.
            return sum(self._store.pop(k, _ABSENT) is not _ABSENT for k in keys)


def _redacted(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class RedisCache(Cache):
    """A Redis-backed cache; values are JSON strings with a millisecond expiry (``SET ... PX``).

    Args:
        client: a ``redis.Redis`` client (injected; :meth:`from_url` builds and checks one). Its
            timeouts and retry policy bound how long a read or write can take when Redis is down.
        prefix: the key prefix of everything this cache writes (``serve.cache.prefix``).
        ttl: default seconds an entry lives (``serve.cache.ttl``); ``set(..., ttl=)`` overrides it.
    """

    backend = "redis"

    def __init__(self, client: redis.Redis, prefix: str = ROOT, ttl: float = 600.0) -> None:
        if not isinstance(prefix, str) or not prefix.strip():
            raise ValueError(f"serve.cache.prefix={prefix!r} is empty. Fix: e.g. serve.cache.prefix={ROOT}")
        _check_ttl("serve.cache.ttl", ttl)
        super().__init__(prefix, ttl)
        self.client = client

    @classmethod
    def from_url(cls, url: str, prefix: str = ROOT, ttl: float = 600.0, timeout: float = 2.0) -> RedisCache:
        """Connect to ``url`` (``redis://host:port/db``) and check the server answers PING.

        The client retries a failed command once, at once (a pooled connection gone stale after a
        Redis restart), instead of redis-py's default ten retries with backoff, so that a Redis
        outage costs a request about ``timeout`` seconds, not several.

        Raises:
            CacheUnavailableError: the server does not answer within ``timeout`` seconds.
        """
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            client.close()
            raise CacheUnavailableError(
                f"Redis cache at {_redacted(url)} did not answer PING ({exc}). Fix: start redis-server there "
                f"(`apt-get install redis-server`), point RECSYS_REDIS_URL (serve.cache.url) at a running "
                f"server, or serve with the in-process cache (cache=memory)."
            ) from exc
        return cls(client, prefix=prefix, ttl=ttl)

    def _failed(self, action: str, exc: Exception) -> None:
        self._counters.add("errors")
        log.warning("Redis cache %s failed (%s); serving without the cache", action, exc)

    def _read(self, full_key: str) -> bytes | None:
        try:
            return self.client.get(full_key)
        except redis.RedisError as exc:
            self._failed("GET", exc)
            return None

    def _write(self, full_key: str, data: str, ttl: float) -> None:
        try:
            self.client.set(full_key, data, px=max(1, round(ttl * 1000)))
        except redis.RedisError as exc:
            self._failed("SET", exc)

    def _remove(self, full_key: str) -> None:
        self.client.delete(full_key)

    def _remove_prefix(self, prefix: str) -> int:
        """SCAN for ``<prefix>*`` (glob characters of the prefix escaped), then DEL in batches."""
        keys = list(self.client.scan_iter(match=_GLOB.sub(r"\\\1", prefix) + "*", count=1000))
        return sum(self.client.delete(*keys[i : i + 500]) for i in range(0, len(keys), 500))
