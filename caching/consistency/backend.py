"""What the consistency code needs of the cache backend, and the backend in use.

The consistency code (reads, invalidations on commit, the outbox) runs its Redis calls through the
backend's guard, so that a failing Redis is decided, counted and logged in one place
(caching/backend/guard.py). This Protocol names exactly what it uses; caching.backend.cache.RedisCache
provides it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar, overload

from django.core.cache import DEFAULT_CACHE_ALIAS, caches

from caching.backend.scripts import LuaScript

T = TypeVar("T")
D = TypeVar("D")


class ConsistencyBackend(Protocol):
    enabled: bool

    def make_and_validate_key(self, key: str, version: int | None = None) -> str: ...

    def read(self, rkey: str, namespace: str, default: Any) -> Any: ...

    @overload
    def guarded(self, fn: Callable[[Any], T], *, namespace: str | None = None) -> T | None: ...

    @overload
    def guarded(self, fn: Callable[[Any], T], *, namespace: str | None = None, default: D) -> T | D: ...

    def guarded_many(self, fn: Callable[[Any], T], namespaces: Iterable[str], *, op: str, default: T,
                     write: bool = True) -> T: ...

    def run_script(self, script: LuaScript, keys: Iterable[Any] = (), args: Iterable[Any] = (), *,
                   namespace: str | None = None, default: Any = None, version: int | None = None) -> Any: ...

    def record_failure(self, error: Exception, namespaces: Iterable[str], op: str) -> None: ...

    def refuse(self, rkey: str, namespace: str, refusal: Exception) -> None: ...


class _Found(threading.local):
    connections: Any = None  # the `caches` handler's per-thread store the backend was found in
    backend: Any = None


_found = _Found()


def current_backend() -> ConsistencyBackend | None:
    """The default cache backend, or None when caching is disabled (ENABLE_CACHE=false).

    Looked up in `caches` once per thread: that lookup goes through asgiref's Local (a lock and a
    context variable), and every cached read makes it. Changing CACHES (override_settings, the
    `settings` fixture) gives `caches` a new store, so it is looked up again; code that puts a
    backend into `caches[...]` itself calls `forget()`."""
    connections = caches.__dict__["_connections"]  # BaseConnectionHandler's store (not in django-stubs)
    if _found.connections is not connections:
        backend: Any = caches[DEFAULT_CACHE_ALIAS]
        _found.backend = backend if getattr(backend, "enabled", False) else None
        _found.connections = connections
    return _found.backend


def forget() -> None:
    """Look the backend up again on this thread (after `caches[alias] = ...`)."""
    _found.connections = None
