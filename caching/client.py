"""django-redis's client with our value format and key layout, for the tooling django-redis provides.

The backend's Django API methods encode values themselves; this makes the django-redis extras
(`hset`, `sadd`, `keys`, `iter_keys`, ...) write and read the same safe format, so no path into
Redis unpickles unsigned bytes, and turn our `<prefix>:s<schema>:<version>:<key>` back into `<key>`.
"""

from __future__ import annotations

from typing import Any

from django_redis.client import DefaultClient

from . import serializer


class SafeClient(DefaultClient):
    def __init__(self, server: Any, params: dict[str, Any], backend: Any) -> None:
        super().__init__(server, params, backend)
        if not params.get("REVERSE_KEY_FUNCTION"):
            self.reverse_key = self._reverse_key

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
