"""django-redis's client with our value format and key layout, for the tooling django-redis provides.

The backend's Django API methods encode values themselves; this makes the django-redis extras
(`hset`, `sadd`, `keys`, `iter_keys`, ...) write and read the same safe format, so no path into
Redis unpickles unsigned bytes, and turn our `<prefix>:s<schema>:<version>:<key>` back into `<key>`.
`get_client()` (and so `django_redis.get_redis_connection`) raises `CacheUnavailable` while the
breaker is open: a raw connection has no answer to fall back on.
"""

from __future__ import annotations

from typing import Any

from django_redis.client import DefaultClient
from django_redis.serializers.base import BaseSerializer

from caching.backend import serializer


class SafeSerializer(BaseSerializer):
    """What `cache.client._serializer` reports: caching/backend/serializer.py (JSON or signed pickle)."""

    def dumps(self, value: Any) -> bytes:
        return serializer.dumps(value)

    def loads(self, value: bytes) -> Any:
        return serializer.loads(value)


class SafeClient(DefaultClient):
    def __init__(self, server: Any, params: dict[str, Any], backend: Any) -> None:
        super().__init__(server, params, backend)
        self._serializer = SafeSerializer(options=self._options)
        if not params.get("REVERSE_KEY_FUNCTION"):
            self.reverse_key = self._reverse_key

    def get_client(self, write: bool = True, tried: list[int] | None = None) -> Any:
        self._backend.require_redis("get_redis_connection")
        return super().get_client(write=write, tried=tried)

    def encode(self, value: Any, *, allow_int: bool = True) -> bytes:
        return serializer.dumps(value)

    def decode(self, value: bytes | int | str) -> Any:
        if isinstance(value, int):
            return value
        return serializer.loads(value.encode() if isinstance(value, str) else value)

    def _reverse_key(self, key: str) -> str:
        # django-redis assumes a prefix without colons; ours has the schema version in it.
        prefix = f"{self._backend.key_prefix}:"
        return key[len(prefix):].partition(":")[2] if key.startswith(prefix) else key
