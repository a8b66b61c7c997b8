"""The one place where Redis failing is decided (ARCHITECTURE.md §5.4), mixed into the backend.

- Connection failures and timeouts feed the circuit breaker and are counted as errors: reads miss,
  writes do nothing, and once the breaker is open no call touches the network ("bypassed").
- Redis answering an error (OOM, WRONGTYPE) is counted and logged — once a minute per kind at
  WARNING, otherwise DEBUG — and answered the same way. The breaker stays closed: Redis is up.
- Anything else (a bad argument, an unpicklable value, a bug in a script caller) propagates.

`guarded` and `run_script` give later cache code raw Redis and Lua under the same rules. Every call
goes to the primary (the first LOCATION): a replica may lag behind a write this process just made.
A call given the caller's own `client=` (a pipeline, to batch) is never bypassed — a pipeline must
queue every command it is handed, or the answers of its execute() would not line up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from caching.backend import stats
from caching.servers import cluster
from caching.backend.breaker import CLOSED, OPEN, CircuitBreaker
from caching.backend.scripts import LuaScript
from caching.servers.cluster import CLUSTER_UNAVAILABLE

logger = logging.getLogger("caching.backend.cache")
T = TypeVar("T")
D = TypeVar("D")



class ReplayPending(RedisError):
    """A connection refused by a connect hook until its Redis may be trusted: another process is
    replaying lost invalidations into it (caching/consistency/replay.py), or they cannot be read.
    Answered like a Redis that is away — reads miss, nothing is filled — but counted as a bypass and
    not fed to the breaker: the server is fine, and the replay takes moments. Not a ConnectionError,
    so redis-py does not retry the connect with its back-off either."""


# The server is away: these feed the breaker. ResponseError means it answered: counted, not tripped.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, *CLUSTER_UNAVAILABLE)
REDIS_ERRORS: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, ResponseError, ReplayPending)
_WARNING_EVERY = 60.0  # seconds between WARNINGs for the same kind of Redis error reply
_last_warned: dict[str, float] = {}

# Run with the raw client just before a probe's own command (the breaker is not closed): e.g. to
# replay invalidations recorded while Redis was away, before any answer from it is trusted again.
# A Redis error raised by a hook fails the probe. Signature: hook(client, cache).
PROBE_HOOKS: list[Callable[[Any, Any], None]] = []


class CacheUnavailable(RedisConnectionError):
    """Redis cannot be used now (the breaker is open) and the call has no safe answer without it."""


class GuardedRedis:
    """Needs `self.breaker` and django-redis's `self.client`; `make_and_validate_key` from BaseCache."""

    breaker: CircuitBreaker
    client: Any
    make_and_validate_key: Callable[..., str]
    _connected: Any = None  # the primary's redis-py client, once `_guard` has handed it out

    @overload
    def guarded(self, fn: Callable[[Any], T], *, namespace: str | None = None) -> T | None: ...

    @overload
    def guarded(self, fn: Callable[[Any], T], *, namespace: str | None = None, default: D) -> T | D: ...

    def guarded(self, fn: Callable[[Any], T], *, namespace: str | None = None, default: Any = None) -> Any:
        """Run `fn(redis_client)` through the breaker: `default` if Redis is away or answers an error."""
        return self._guard(fn, () if namespace is None else (namespace,), "call", default)

    def guarded_many(self, fn: Callable[[Any], T], namespaces: Iterable[str], *, op: str, default: T,
                     write: bool = True) -> T:
        """`guarded` for a call that touches keys of several namespaces (each counts a failure)."""
        return self._guard(fn, namespaces, op, default, write=write)

    def read(self, rkey: str, namespace: str, default: Any) -> Any:
        """One GET of `rkey` (a key with its prefix): the bytes, None, or `default` when Redis cannot
        answer — `_guard`'s rules, without its indirections while the breaker is closed: every
        cache hit makes this one call."""
        client = self._connected
        if client is None or self.breaker.state is not CLOSED:  # not yet connected, or Redis in doubt
            return self._guard(lambda r: r.get(rkey), (namespace,), "get", default, write=False)
        try:
            raw = client.get(rkey)
        except (*REDIS_ERRORS, ConnectionInterrupted) as error:
            self.record_failure(_unwrapped(error), (namespace,), "get")
            return default
        if self.breaker.failures:
            self.breaker.succeeded()
        return raw

    def _connect(self, client: Any) -> Any:
        # django-redis's client for the primary (its pool is the process's): one per backend, kept,
        # so that a call while the breaker is closed needs no lookup through django-redis.
        self._connected = client
        return client

    def run_script(self, script: LuaScript, keys: Iterable[Any] = (), args: Iterable[Any] = (), *,
                   namespace: str | None = None, default: Any = None, version: int | None = None) -> Any:
        """Run a Lua script on application keys (prefixed here, like every other call)."""
        rkeys = [self.make_and_validate_key(key, version=version) for key in keys]
        values = list(args)
        return self.guarded(lambda r: script(r, rkeys, values), namespace=namespace, default=default)

    def ping(self) -> tuple[bool, str]:
        """(answered, detail) — for the start-up line and health checks."""
        started = time.perf_counter()
        if self._guard(cluster.ping, (), "ping", False):
            return True, f"answered PING in {(time.perf_counter() - started) * 1000:.1f} ms"
        return False, self.breaker.last_error or "no answer"

    def _guard(
        self, fn: Callable[[Any], T], namespaces: Iterable[str], op: str, default: T, *,
        write: bool = True, client: Any = None,
    ) -> T:
        # `write` is kept for callers; reads go to the primary too (see the module docstring).
        if client is not None:
            try:
                return fn(client)
            except (*REDIS_ERRORS, ConnectionInterrupted) as error:
                self.record_failure(_unwrapped(error), namespaces, op)
                return default
        if not self.breaker.allow():
            for namespace in namespaces:
                stats.record(namespace, stats.BYPASS)
            return default
        try:
            client = self._connected
            if client is None or self.breaker.state is not CLOSED:
                client = self._connect(self.client.get_client(write=True))
                if self.breaker.state is not CLOSED:
                    self.before_probe(client)
            result = fn(client)
        except (*REDIS_ERRORS, ConnectionInterrupted) as error:
            # django-redis's client wraps Redis errors in ConnectionInterrupted: judged by the cause.
            self.record_failure(_unwrapped(error), namespaces, op)
            return default
        self.breaker.succeeded()
        return result

    def require_redis(self, op: str) -> None:
        """For calls with no safe answer without Redis (a lock, a raw connection): raise while the
        breaker is open. After the cool-down the call goes ahead (and probes, as any call would)."""
        if self.breaker.state is OPEN and not self.breaker.allow():
            raise CacheUnavailable(
                f"cache {op}: Redis at {self.breaker.name} is unavailable (cache breaker open after "
                f"{self.breaker.last_error or 'failures'}); there is no safe answer without it"
            )

    def before_probe(self, client: Any) -> None:
        for hook in PROBE_HOOKS:
            hook(client, self)

    def record_failure(self, error: Exception, namespaces: Iterable[str], op: str) -> None:
        """Count a Redis failure for `namespaces` and let the breaker judge it (an error reply found
        in a pipeline's results comes here as its exception)."""
        if isinstance(error, ReplayPending):
            for namespace in namespaces:
                stats.record(namespace, stats.BYPASS)
            logger.debug("cache %s bypassed: %s", op, error)
            return
        for namespace in namespaces:
            stats.record(namespace, stats.ERROR)
        if isinstance(error, CONNECTION_ERRORS):
            self.breaker.failed(error)  # logs once when it opens; single failures only at DEBUG
            logger.debug("cache %s failed: %s: %s", op, type(error).__name__, error)
            return
        self.breaker.succeeded()  # Redis answered: it is up, the command or the data is wrong
        level = logging.WARNING if _first_in_a_while(f"{op}:{error}"[:80]) else logging.DEBUG
        logger.log(level, "Redis refused cache %s (%s); answered as a miss / not stored", op, error)

    def refuse(self, rkey: str, namespace: str, refusal: Exception, *, miss: bool = True) -> None:
        """A cached value that must not be used (unreadable, unsigned, not the expected shape): a
        counted miss (`miss=False`: the read that found it counted one already) and error, deleted,
        a warning."""
        # Never trusted, never unpickled; deleted so that the next fill (add/get_or_set) can replace it.
        if miss:
            stats.record(namespace, stats.MISS)
        stats.record(namespace, stats.ERROR)
        logger.warning("refused the cached value at %s (%s): treated as a miss and deleted", rkey, refusal)
        self._guard(lambda r: r.delete(rkey), (), "delete", 0)


def _unwrapped(error: Exception) -> Exception:
    if isinstance(error, ConnectionInterrupted):
        cause = error.__cause__
        if not isinstance(cause, REDIS_ERRORS):
            raise error
        return cause
    return error


def _first_in_a_while(kind: str) -> bool:
    now = time.monotonic()
    if now - _last_warned.get(kind, -_WARNING_EVERY) < _WARNING_EVERY:
        return False
    if len(_last_warned) > 1000:  # error texts vary (they may name keys): stay bounded
        _last_warned.clear()
    _last_warned[kind] = now
    return True
