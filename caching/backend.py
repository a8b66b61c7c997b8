"""`CACHES["default"]`: django-redis with Django's full cache contract, safe values, a circuit breaker
and per-namespace stats (DESIGN §5, properties 4–6).

django-redis keeps the connection pool and its tooling (`lock`, `ttl`, `expire`, `delete_pattern`,
`get_redis_connection`, through `caching.client.SafeClient`). The Django API methods are ours: they
talk to redis-py directly (one round trip per call, nothing else on a hit), keep Django's documented
return values, and go through `_guard` (caching/guard.py), the one place where Redis failing is
decided: reads miss and writes do nothing when Redis is away or answers an error, bugs propagate.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    CacheKeyWarning,
    memcache_key_warnings,
)
from django_redis.cache import RedisCache as DjangoRedisCache
from redis.exceptions import ResponseError

from . import serializer, singleflight, stats
from .breaker import breaker_for
from .embedded import EmbeddedConnection
from .fallback import DEFAULT_MAX_ENTRIES, local_copy_for
from .guard import GuardedRedis
from .keys import SCHEMA_VERSION, namespace_of
from .redis_url import redact_url
from .scripts import INCR_IF_EXISTS

logger = logging.getLogger(__name__)
_DEBUG = logging.DEBUG
_MISSING = object()
_UNAVAILABLE = object()


class RedisCache(GuardedRedis, DjangoRedisCache):
    enabled = True

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        options = params.get("OPTIONS", {})
        prefix = self.key_prefix
        # Stats live beside the data but outside every data key pattern (and survive schema bumps).
        self.stats_key = f"{prefix}:stats" if prefix else "stats"
        # The one place the value-schema version enters keys: ha:s1:<VERSION>:<key>.
        self.key_prefix = f"{prefix}:s{SCHEMA_VERSION}" if prefix else f"s{SCHEMA_VERSION}"
        connection_class = options.get("CONNECTION_POOL_KWARGS", {}).get("connection_class")
        # fakeredis lives inside this process: nothing it holds is shared with any other process.
        self.process_local = getattr(connection_class, "__module__", "").startswith("fakeredis")
        self.embedded = self.process_local or connection_class is EmbeddedConnection
        if self.process_local:
            self.display_url = "embedded in-process Redis (fakeredis; this process only)"
        elif self.embedded:
            self.display_url = f"embedded valkey-server ({server})"
        else:
            self.display_url = redact_url(server)
        self.breaker = breaker_for(
            server,
            name=self.display_url,
            failure_threshold=int(options.get("BREAKER_FAILURES", 3)),
            cooldown=float(options.get("BREAKER_COOLDOWN", 5.0)),
        )
        stats.start_flusher(float(options.get("STATS_FLUSH_INTERVAL", 1.0)))
        # get_or_set's single flight (caching/singleflight.py): the Redis lock's TTL, in seconds —
        # above one FDC attempt's worst case (3.05 s connect + 10 s read) with room for a retry.
        self.lock_timeout = float(options.get("LOCK_TIMEOUT", 20.0))
        self.flights = singleflight.flights_for(server)
        max_entries = int(options.get("LOCAL_COPY_MAX_ENTRIES", DEFAULT_MAX_ENTRIES))
        self.local_copy = local_copy_for(server, max_entries=max_entries)

    # --- keys -------------------------------------------------------------------------------------
    def validate_key(self, key: str) -> None:
        # One C-speed test on the hot path; Django's per-character scan only for keys that fail it.
        if len(key) <= MEMCACHE_MAX_KEY_LENGTH and key.isascii() and key.isprintable() and " " not in key:
            return
        for warning in memcache_key_warnings(key):
            warnings.warn(warning, CacheKeyWarning)
        if not key.isascii():
            warnings.warn(f"Cache key is not ASCII: {key!r}", CacheKeyWarning)

    # --- reads ------------------------------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        value = self._read(self.make_and_validate_key(key, version=version), namespace_of(key), key)
        return default if value is _MISSING or value is _UNAVAILABLE else value

    def get_or_set(self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> Any:
        """Django's get_or_set; a callable default is computed once for concurrent misses on `key`,
        across threads and processes (caching/singleflight.py), and its errors are never stored.

        Our extension: `timeout` may be a callable, `timeout(value) -> seconds`, so that a caller can
        keep e.g. "no results" for less time than results. A hit is one GET, as with get().
        """
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)
        value = self._read(rkey, namespace, key)
        if value is not _MISSING and value is not _UNAVAILABLE:
            return value
        if not callable(default):
            seconds = timeout(default) if callable(timeout) else timeout
            if self.add(key, default, timeout=seconds, version=version):
                return default
            return self.get(key, default, version=version)  # Django: what add() lost to wins
        return singleflight.fill(self, key=key, rkey=rkey, namespace=namespace, compute=default, timeout=timeout,
                                 version=version, reached=value is _MISSING)

    def _read(self, rkey: str, namespace: str, key: Any) -> Any:
        """One GET: the value, _MISSING (Redis answered: not there) or _UNAVAILABLE (it could not)."""
        raw = self._guard(lambda r: r.get(rkey), (namespace,), "get", _UNAVAILABLE, write=False)
        if raw is _UNAVAILABLE:
            return _UNAVAILABLE
        if raw is None:
            stats.record(namespace, stats.MISS)
            if logger.isEnabledFor(_DEBUG):
                logger.debug("cache MISS %s", key)
            return _MISSING
        try:
            value = serializer.loads(raw)
        except serializer.RefusedValue as refusal:
            self._refused(rkey, namespace, refusal)
            return _MISSING
        stats.record(namespace, stats.HIT)
        if logger.isEnabledFor(_DEBUG):
            logger.debug("cache HIT %s", key)
        return value

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        by_rkey = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not by_rkey:
            return {}
        namespaces = [namespace_of(key) for key in by_rkey.values()]
        raws = self._guard(lambda r: r.mget(list(by_rkey)), namespaces, "get_many", None, write=False)
        if raws is None:
            return {}
        found = {}
        for (rkey, key), namespace, raw in zip(by_rkey.items(), namespaces, raws):
            if raw is None:
                stats.record(namespace, stats.MISS)
                continue
            try:
                found[key] = serializer.loads(raw)
            except serializer.RefusedValue as refusal:
                self._refused(rkey, namespace, refusal)
                continue
            stats.record(namespace, stats.HIT)
        return found

    def has_key(self, key: Any, version: int | None = None) -> bool:
        rkey = self.make_and_validate_key(key, version=version)
        return self._guard(lambda r: r.exists(rkey) == 1, (namespace_of(key),), "has_key", False, write=False)

    # --- writes -----------------------------------------------------------------------------------
    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._store(key, value, timeout, version, only_new=False)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._store(key, value, timeout, version, only_new=True)

    def _store(self, key: Any, value: Any, timeout: Any, version: int | None, *, only_new: bool) -> bool:
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)
        data = serializer.dumps(value)  # an unpicklable value raises here: the caller's bug
        px = self._expiry_ms(timeout)

        def store(r: Any) -> bool:
            if px is not None and px <= 0:  # Django: a timeout of 0 or less means "do not cache"
                if only_new:
                    return not r.exists(rkey)
                r.delete(rkey)
                return True
            return bool(r.set(rkey, data, px=px, nx=only_new))

        stored = self._guard(store, (namespace,), "add" if only_new else "set", False)
        if stored:
            stats.record(namespace, stats.SET)
        return stored

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list:
        """Return the keys that were not stored (Django's contract: [] when all were)."""
        if not data:
            return []
        entries = [
            (key, self.make_and_validate_key(key, version=version), serializer.dumps(value))
            for key, value in data.items()
        ]
        namespaces = [namespace_of(key) for key, _, _ in entries]
        px = self._expiry_ms(timeout)

        def store(r: Any) -> list:
            pipe = r.pipeline(transaction=False)
            for _, rkey, blob in entries:
                if px is not None and px <= 0:
                    pipe.delete(rkey)
                else:
                    pipe.set(rkey, blob, px=px)
            return pipe.execute(raise_on_error=False)

        results = self._guard(store, namespaces, "set_many", None)
        if results is None:
            return list(data)
        failed = []
        for (key, _, _), namespace, result in zip(entries, namespaces, results):
            if isinstance(result, Exception):  # e.g. OOM for this one command
                self._failed(result, (namespace,), "set_many")
                failed.append(key)
            else:
                stats.record(namespace, stats.SET)
        return failed

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        rkey = self.make_and_validate_key(key, version=version)
        px = self._expiry_ms(timeout)

        def touch(r: Any) -> bool:
            if px is None:  # PERSIST answers 0 for a key that exists but never expired: still touched
                return bool(r.persist(rkey)) or r.exists(rkey) == 1
            return bool(r.pexpire(rkey, px))  # ≤ 0 deletes the key, as the contract wants

        return self._guard(touch, (namespace_of(key),), "touch", False)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)

        def incr(r: Any) -> Any:
            try:
                return INCR_IF_EXISTS(r, [rkey], [delta])
            except ResponseError as error:
                if "not an integer" not in str(error):
                    raise
                return self._incr_in_python(r, rkey, delta)

        value = self._guard(incr, (namespace,), "incr", None)
        if value is None or value is False:  # also when Redis is away: a miss, as with DummyCache
            raise ValueError(f"Key '{key}' not found")
        stats.record(namespace, stats.SET)
        return value

    def _incr_in_python(self, r: Any, rkey: str, delta: int) -> Any:
        # Redis cannot add to this value (not an integer, or beyond 64 bits): do what LocMemCache
        # does — value + delta, which raises TypeError for None, a str or a list.
        raw = r.get(rkey)
        if raw is None:
            return None
        value = serializer.loads(raw) + delta
        r.set(rkey, serializer.dumps(value), keepttl=True)
        return value

    decr = BaseCache.decr
    incr_version = BaseCache.incr_version  # django-redis's loses None values; Django's keeps them
    decr_version = BaseCache.decr_version

    # --- deletes ----------------------------------------------------------------------------------
    def delete(self, key: Any, version: int | None = None) -> bool:
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)
        deleted = self._guard(lambda r: r.delete(rkey), (namespace,), "delete", None)
        if deleted is None:
            return False
        stats.record(namespace, stats.DELETE)
        return deleted == 1

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        by_rkey = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not by_rkey:
            return
        namespaces = [namespace_of(key) for key in by_rkey.values()]
        if self._guard(lambda r: r.delete(*by_rkey), namespaces, "delete_many", None) is not None:
            for namespace in namespaces:
                stats.record(namespace, stats.DELETE)

    def clear(self) -> bool:
        """Empty the Redis database (Django's contract: everything, counters included), and this
        process's local copy of it (caching/fallback.py)."""
        self.local_copy.clear()
        # ASYNC: the keys are gone at once, the memory is freed in the background — a large
        # database would otherwise block Redis for every other client.
        return self._guard(lambda r: bool(r.flushdb(asynchronous=True)), (), "clear", False)

    def _expiry_ms(self, timeout: Any) -> int | None:
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        if not isinstance(timeout, (int, float)):  # "10" * 1000 would be a very long string
            raise TypeError(f"cache timeout must be a number of seconds or None, not {timeout!r}")
        return int(timeout * 1000)

