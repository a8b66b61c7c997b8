"""Cache tests use the Redis fixtures of tests/redis_server.py (documented there)."""

from tests.redis_server import connect_attempts, live_redis, redis_server, use_redis  # noqa: F401
