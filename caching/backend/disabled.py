"""ENABLE_CACHE=false: Django's DummyCache (every read misses, nothing is stored, same answers),
plus the extra calls the rest of the code makes on our backend, answered without Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.dummy import DummyCache

T = TypeVar("T")


class DisabledCache(DummyCache):
    enabled = False
    breaker = None

    def get_or_set(self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None,
                   valid: Callable[[Any], bool] | None = None) -> Any:
        # `valid`: our backend's extension, for values read from Redis; nothing is read here.
        return super().get_or_set(key, default, timeout=timeout, version=version)

    def guarded(self, fn: Callable[[Any], Any], *, namespace: str | None = None, default: Any = None) -> Any:
        return default

    def run_script(self, script: Any, keys: Iterable[Any] = (), args: Iterable[Any] = (), *,
                   namespace: str | None = None, default: Any = None, version: int | None = None) -> Any:
        for key in keys:  # the same key warnings as every other DummyCache call
            self.make_and_validate_key(key, version=version)
        return default

    def ping(self) -> tuple[bool, str]:
        return False, "caching is disabled (ENABLE_CACHE=false)"
