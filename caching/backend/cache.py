"""`CACHES["default"]`: django-redis with Django's full cache contract, safe values, a circuit breaker
and per-namespace stats (ARCHITECTURE.md §5, properties 4–6).

django-redis keeps the connection pool and its tooling (`lock`, `ttl`, `expire`, `delete_pattern`,
`get_redis_connection`, through `caching.backend.client.SafeClient`, each routed through the guard by
caching/backend/extras.py). The Django API methods are ours: they talk to redis-py directly (one round trip
per call, nothing else on a hit), keep Django's documented return values and django-redis's extra
arguments (`client=` to batch on a pipeline, `set(nx=, xx=)`, `incr(ignore_key_check=)`), and go
through `_guard` (caching/backend/guard.py), the one place where Redis failing is decided: reads miss and
writes do nothing when Redis is away or answers an error, bugs propagate.

Options django-redis accepts but this backend cannot honour are refused at start-up (`_refuse`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    CacheKeyWarning,
    default_key_func,
    memcache_key_warnings,
)
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django_redis.cache import RedisCache as DjangoRedisCache
from redis.exceptions import ResponseError

from caching.backend import read_ahead, serializer, verdicts
from caching.backend import singleflight
from caching.backend import stats
from caching.backend.breaker import breaker_for
from caching.servers import connect_hooks
from caching.servers.embedded import EmbeddedConnection
from caching.backend.extras import DjangoRedisExtras
from caching.backend.local_copy import DEFAULT_MAX_ENTRIES, local_copy_for
from caching.backend.guard import GuardedRedis
from caching.keys import SCHEMA_VERSION, namespace_of
from caching.servers.url import redact_url
from caching.backend.scripts import INCR_IF_EXISTS

logger = logging.getLogger(__name__)
_DEBUG = logging.DEBUG
_MISSING = object()
_UNAVAILABLE = object()


# Redis's answers when INCRBY cannot add (the value is no integer, or the sum leaves 64 bits).
_INCR_IN_PYTHON = ("not an integer", "overflow")
_OUR_CLIENT = "caching.backend.client.SafeClient"
# django-redis's DefaultClient, as most django-redis settings name it, is ours with our value format.
_CLIENTS = {_OUR_CLIENT, "django_redis.client.DefaultClient", "django_redis.client.default.DefaultClient"}


def _refuse(server: Any, options: dict[str, Any]) -> str:
    """The primary's URL, after refusing what this backend cannot honour (ImproperlyConfigured)."""
    client_class = options.get("CLIENT_CLASS", _OUR_CLIENT)
    if client_class not in _CLIENTS and not issubclass(import_string(client_class), import_string(_OUR_CLIENT)):
        raise ImproperlyConfigured(
            f"CACHES OPTIONS CLIENT_CLASS={client_class!r} is not supported by caching.backend.cache.RedisCache: "
            f"its Django API methods do their own Redis calls (herd or shard clients would be silently "
            f"bypassed). Remove CLIENT_CLASS or set it to {_OUR_CLIENT!r}."
        )
    if "SERIALIZER" in options:
        raise ImproperlyConfigured(
            f"CACHES OPTIONS SERIALIZER={options['SERIALIZER']!r} is not supported by caching.backend.cache.RedisCache: "
            "values are always JSON or signed pickle (caching/backend/serializer.py), so that nothing written by "
            "someone without DJANGO_SECRET_KEY is ever unpickled. Remove SERIALIZER."
        )
    if "PICKLE_VERSION" in options:
        raise ImproperlyConfigured(
            f"CACHES OPTIONS PICKLE_VERSION={options['PICKLE_VERSION']!r} is not supported by "
            "caching.backend.cache.RedisCache: values that are not JSON are pickled (and signed) by "
            "caching/backend/serializer.py at its own protocol. Remove it."
        )
    if options.get("IGNORE_EXCEPTIONS", True) is not True:
        raise ImproperlyConfigured(
            "CACHES OPTIONS IGNORE_EXCEPTIONS=False is not supported by caching.backend.cache.RedisCache: Redis "
            "failing is always answered as a miss / not stored, behind a circuit breaker. Remove it."
        )
    locations = server if isinstance(server, (list, tuple)) else str(server).split(",")
    if not locations or not locations[0]:
        raise ImproperlyConfigured("CACHES LOCATION is empty: set it to a redis:// URL (REDIS_URL)")
    # A primary/replica list is accepted; every call of ours goes to the primary (caching/backend/guard.py).
    return locations[0]


class RedisCache(DjangoRedisExtras, GuardedRedis, DjangoRedisCache):
    enabled = True
    key_prefix: str

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = params.get("OPTIONS", {})
        primary = _refuse(server, options)
        super().__init__(server, params)
        if options.get("CLIENT_CLASS", _OUR_CLIENT) in _CLIENTS:
            self._client_cls = import_string(_OUR_CLIENT)  # params stay the caller's (django-redis reads them live)
        # From here on `server` is the primary: breaker, single flight and local copy are per primary.
        server = primary
        serializer.use_compressor(options.get("COMPRESSOR"), options)
        prefix = self.key_prefix
        # Stats live beside the data but outside every data key pattern (and survive schema bumps).
        self.stats_key = f"{prefix}:stats" if prefix else "stats"
        # The one place the value-schema version enters keys: ha:s1:<VERSION>:<key>.
        self.key_prefix = f"{prefix}:s{SCHEMA_VERSION}" if prefix else f"s{SCHEMA_VERSION}"
        connection_class = options.get("CONNECTION_POOL_KWARGS", {}).get("connection_class")
        # fakeredis lives inside this process: nothing it holds is shared with any other process.
        self.process_local = getattr(connection_class, "__module__", "").startswith("fakeredis")
        self.embedded = self.process_local or connection_class is EmbeddedConnection
        if not self.process_local:
            # Every new connection passes the connect hooks first (the replay of lost invalidations:
            # caching/servers/connect_hooks.py). django-redis builds its pools from these options.
            options.setdefault("CONNECTION_POOL_KWARGS", {}).setdefault("redis_connect_func", connect_hooks.connect)
        if self.process_local:
            self.display_url = "embedded in-process Redis (fakeredis; this process only)"
        elif self.embedded:
            self.display_url = f"embedded valkey-server ({server})"
        else:  # DISPLAY_URL: a Cluster or Sentinel set says so (caching/servers/config.py)
            self.display_url = options.get("DISPLAY_URL") or redact_url(server)
        self.breaker = breaker_for(
            server,
            name=self.display_url,
            failure_threshold=int(options.get("BREAKER_FAILURES", 3)),
            cooldown=float(options.get("BREAKER_COOLDOWN", 5.0)),
        )
        stats.configure_flusher(float(options.get("STATS_FLUSH_INTERVAL", 1.0)))
        # get_or_set's single flight (caching/backend/singleflight.py): the Redis lock's TTL, in seconds —
        # above one FDC attempt's worst case (3.05 s connect + 10 s read) with room for a retry.
        self.lock_timeout = float(options.get("LOCK_TIMEOUT", 20.0))
        self.flights = singleflight.flights_for(server)
        max_entries = int(options.get("LOCAL_COPY_MAX_ENTRIES", DEFAULT_MAX_ENTRIES))
        self.local_copy = local_copy_for(server, max_entries=max_entries)

    # --- keys -------------------------------------------------------------------------------------
    def make_and_validate_key(self, key: Any, version: int | None = None) -> str:
        # Every read makes one: Django's default key function's format, without its two calls.
        if type(key) is str and self.key_func is default_key_func:
            rkey = f"{self.key_prefix}:{self.version if version is None else version}:{key}"
        else:
            rkey = self.make_key(key, version=version)
        self.validate_key(rkey)
        return rkey

    def validate_key(self, key: str) -> None:
        # One C-speed test on the hot path; Django's per-character scan only for keys that fail it.
        if len(key) <= MEMCACHE_MAX_KEY_LENGTH and key.isascii() and key.isprintable() and " " not in key:
            return
        # Exactly Django's warnings: Redis takes any bytes, so a non-ASCII key is not one of them.
        for warning in memcache_key_warnings(key):
            warnings.warn(warning, CacheKeyWarning)

    # --- reads ------------------------------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None, client: Any = None) -> Any:
        value = self._read(self.make_and_validate_key(key, version=version), namespace_of(key), key, client)
        return default if value is _MISSING or value is _UNAVAILABLE else value

    def get_or_set(self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None,
                   valid: Callable[[Any], bool] | None = None) -> Any:
        """Django's get_or_set; a callable default is computed once for concurrent misses on `key`,
        across threads and processes (caching/backend/singleflight.py), and its errors are never stored.

        Our extensions: `timeout` may be a callable, `timeout(value) -> seconds`, so that a caller can
        keep e.g. "no results" for less time than results. `valid(value) -> bool` says what a cached
        value must be to be used (anyone who can write to Redis can plant one): one it refuses is
        counted as a miss and an error, deleted and computed afresh; if the value the fill ends with
        fails it too (planted again meanwhile), that is refused as well and a callable default's own
        answer is returned, not cached. A hit is one GET, as with get(); bytes that passed `valid`
        before are not checked again (caching/backend/verdicts.py).
        """
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)
        value = self._read(rkey, namespace, key, valid=valid)
        if value is not _MISSING and value is not _UNAVAILABLE:
            return value
        if not callable(default):
            seconds = timeout(default) if callable(timeout) else timeout
            if self.add(key, default, timeout=seconds, version=version):
                return default
            return self.get(key, default, version=version)  # Django: what add() lost to wins
        value = singleflight.fill(self, key=key, rkey=rkey, namespace=namespace, compute=default, timeout=timeout,
                                  version=version, reached=value is _MISSING)
        if valid is None or valid(value):
            return value
        self.refuse(rkey, namespace, serializer.RefusedValue("not the shape this data path expects"), miss=False)
        return default()

    def _read(self, rkey: str, namespace: str, key: Any, client: Any = None,
              valid: Callable[[Any], bool] | None = None) -> Any:
        """One GET: the value, _MISSING (Redis answered: not there, or a value `valid` refuses) or
        _UNAVAILABLE (it could not). The GET may have been sent already, with others read ahead in
        one round trip (caching/backend/read_ahead.py)."""
        raw = read_ahead.take(key)
        if raw is read_ahead.NOT_READ:
            if client is None:
                raw = self.read(rkey, namespace, _UNAVAILABLE)
            else:
                raw = self._guard(lambda r: r.get(rkey), (namespace,), "get", _UNAVAILABLE, write=False,
                                  client=client)
        if raw is _UNAVAILABLE:
            return _UNAVAILABLE
        if not isinstance(raw, bytes):  # None: Redis answered that it has no value
            stats.record(namespace, stats.MISS)
            if logger.isEnabledFor(_DEBUG):
                logger.debug("cache MISS %s", key)
            return _MISSING
        try:
            value = serializer.loads(raw)
            # The same bytes passed before: checked once, not on every hit (caching/backend/verdicts.py).
            if valid is not None and not verdicts.passes(rkey, raw, value, valid):
                raise serializer.RefusedValue("not the shape this data path expects")
        except serializer.RefusedValue as refusal:
            self.refuse(rkey, namespace, refusal)
            return _MISSING
        stats.record(namespace, stats.HIT)
        if logger.isEnabledFor(_DEBUG):
            logger.debug("cache HIT %s", key)
        return value

    def get_many(self, keys: Iterable[Any], version: int | None = None, client: Any = None) -> dict[Any, Any]:
        by_rkey = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not by_rkey:
            return {}
        namespaces = [namespace_of(key) for key in by_rkey.values()]
        raws = self._guard(lambda r: r.mget(list(by_rkey)), namespaces, "get_many", None, write=False,
                           client=client)
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
                self.refuse(rkey, namespace, refusal)
                continue
            stats.record(namespace, stats.HIT)
        return found

    def has_key(self, key: Any, version: int | None = None, client: Any = None) -> bool:
        rkey = self.make_and_validate_key(key, version=version)
        return self._guard(lambda r: r.exists(rkey) == 1, (namespace_of(key),), "has_key", False, write=False,
                           client=client)

    # --- writes -----------------------------------------------------------------------------------
    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None,
            client: Any = None, nx: bool = False, xx: bool = False) -> bool:
        """True if stored. django-redis's `nx` (only if absent, as add()) and `xx` (only if present)."""
        return self._store(key, value, timeout, version, nx=nx, xx=xx, client=client)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None,
            client: Any = None) -> bool:
        return self._store(key, value, timeout, version, nx=True, xx=False, client=client)

    def _store(self, key: Any, value: Any, timeout: Any, version: int | None, *,
               nx: bool, xx: bool, client: Any) -> bool:
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)
        data = serializer.dumps(value)  # an unpicklable value raises here: the caller's bug
        px = self.expiry_ms(timeout)

        def store(r: Any) -> bool:
            if px is not None and px <= 0:  # Django: a timeout of 0 or less means "do not cache"
                if nx:  # an existing value stays as it is
                    return not r.exists(rkey)
                deleted = r.delete(rkey)
                return deleted == 1 if xx else True
            return bool(r.set(rkey, data, nx=nx, px=px, xx=xx))

        stored = self._guard(store, (namespace,), "add" if nx else "set", False, client=client)
        if stored:
            stats.record(namespace, stats.SET)
        return stored

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None,
                 client: Any = None) -> list:
        """Return the keys that were not stored (Django's contract: [] when all were)."""
        if not data:
            return []
        entries = [
            (key, self.make_and_validate_key(key, version=version), serializer.dumps(value))
            for key, value in data.items()
        ]
        namespaces = [namespace_of(key) for key, _, _ in entries]
        px = self.expiry_ms(timeout)

        def store(r: Any) -> list:
            pipe = r.pipeline(transaction=False) if client is None else r  # the caller's pipeline executes
            for _, rkey, blob in entries:
                if px is not None and px <= 0:
                    pipe.delete(rkey)
                else:
                    pipe.set(rkey, blob, px=px)
            return pipe.execute(raise_on_error=False) if client is None else [True] * len(entries)

        results = self._guard(store, namespaces, "set_many", None, client=client)
        if results is None:
            return list(data)
        failed = []
        for (key, _, _), namespace, result in zip(entries, namespaces, results):
            if isinstance(result, Exception):  # e.g. OOM for this one command
                self.record_failure(result, (namespace,), "set_many")
                failed.append(key)
            else:
                stats.record(namespace, stats.SET)
        return failed

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None, client: Any = None) -> bool:
        rkey = self.make_and_validate_key(key, version=version)
        px = self.expiry_ms(timeout)

        def touch(r: Any) -> bool:
            if px is None:  # PERSIST answers 0 for a key that exists but never expired: still touched
                return bool(r.persist(rkey)) or r.exists(rkey) == 1
            return bool(r.pexpire(rkey, px))  # ≤ 0 deletes the key, as the contract wants

        return self._guard(touch, (namespace_of(key),), "touch", False, client=client)

    def incr(self, key: Any, delta: int = 1, version: int | None = None, client: Any = None,
             ignore_key_check: bool = False) -> Any:
        """Django's incr; django-redis's `ignore_key_check=True` creates a missing key (no TTL) at
        `delta`. Beyond 64 bits, or on a value Redis cannot add to, done in Python as LocMemCache
        does (value + delta), keeping the key's TTL."""
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)

        def incr(r: Any) -> Any:
            try:
                if ignore_key_check:
                    return r.incrby(rkey, delta)
                value = INCR_IF_EXISTS(r, [rkey], [delta])
                return int(value) if isinstance(value, bytes) else value  # GET's string: exact
            except ResponseError as error:
                if not any(reason in str(error) for reason in _INCR_IN_PYTHON):
                    raise
                return self._incr_in_python(r, rkey, delta)

        value = self._guard(incr, (namespace,), "incr", None, client=client)
        if value is None or value is False:  # also when Redis is away: a miss, as with DummyCache
            raise ValueError(f"Key '{key}' not found")
        stats.record(namespace, stats.SET)
        return value

    def _incr_in_python(self, r: Any, rkey: str, delta: int) -> Any:
        # value + delta, which raises TypeError for None, a str or a list (as LocMemCache). Not
        # atomic: a concurrent write between GET and SET is lost — Redis cannot add these values.
        raw = r.get(rkey)
        if raw is None:
            return None
        value = serializer.loads(raw) + delta
        r.set(rkey, serializer.dumps(value), keepttl=True)
        return value

    def decr(self, key: Any, delta: int = 1, version: int | None = None, client: Any = None) -> Any:
        return self.incr(key, -delta, version=version, client=client)

    def incr_version(self, key: Any, delta: int = 1, version: int | None = None, client: Any = None) -> int:
        """Django's incr_version (a cached None is moved too), keeping the key's remaining TTL."""
        if version is None:
            version = self.version
        namespace = namespace_of(key)
        old = self.make_and_validate_key(key, version=version)
        new = self.make_and_validate_key(key, version=version + delta)

        def move(r: Any) -> bool:
            pipe = r.pipeline(transaction=False)
            raw, ttl_ms = pipe.get(old).pttl(old).execute()
            if raw is None:
                return False
            # PTTL: -1 no expiry; -2 (it just expired) or 0 leave nothing to keep.
            if ttl_ms == -2 or ttl_ms == 0:
                return False
            # Not chained: redis-py's Cluster pipeline returns None from delete(). The two keys may
            # be in different slots (a key without a {hash tag}): the Cluster pipeline sends each
            # to its own node; Django promises no atomicity here.
            pipe.set(new, raw, px=ttl_ms if ttl_ms > 0 else None)
            pipe.delete(old)
            pipe.execute()
            return True

        if not self._guard(move, (namespace,), "incr_version", False, client=client):
            raise ValueError(f"Key '{key}' not found")
        return version + delta

    decr_version = BaseCache.decr_version  # incr_version(key, -delta)

    # --- deletes ----------------------------------------------------------------------------------
    def delete(self, key: Any, version: int | None = None, client: Any = None) -> bool:
        namespace = namespace_of(key)
        rkey = self.make_and_validate_key(key, version=version)
        deleted = self._guard(lambda r: r.delete(rkey), (namespace,), "delete", None, client=client)
        if deleted is None:
            return False
        stats.record(namespace, stats.DELETE)
        return deleted == 1

    def delete_many(self, keys: Iterable[Any], version: int | None = None, client: Any = None) -> int | None:
        """How many keys were deleted, as django-redis (0 when Redis cannot answer); None for no keys,
        as Django's contract tests."""
        by_rkey = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not by_rkey:
            return None
        namespaces = [namespace_of(key) for key in by_rkey.values()]
        deleted = self._guard(lambda r: r.delete(*by_rkey), namespaces, "delete_many", None, client=client)
        if deleted is None:
            return 0
        for namespace in namespaces:
            stats.record(namespace, stats.DELETE)
        return deleted if isinstance(deleted, int) else len(by_rkey)

    def clear(self, client: Any = None) -> bool:
        """Empty the Redis database (Django's contract: everything, counters included), and this
        process's local copy of it (caching/backend/local_copy.py)."""
        self.local_copy.clear()
        # ASYNC: the keys are gone at once, the memory is freed in the background — a large
        # database would otherwise block Redis for every other client.
        return self._guard(lambda r: bool(r.flushdb(asynchronous=True)), (), "clear", False, client=client)

    def expiry_ms(self, timeout: Any) -> int | None:
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        if not isinstance(timeout, (int, float)):  # "10" * 1000 would be a very long string
            raise TypeError(f"cache timeout must be a number of seconds or None, not {timeout!r}")
        return int(timeout * 1000)



def redis_cache() -> RedisCache | None:
    """The default cache when it is this backend and enabled; None otherwise (ENABLE_CACHE=false, or
    a project's own CACHES without it)."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    return backend if isinstance(backend, RedisCache) and backend.enabled else None
