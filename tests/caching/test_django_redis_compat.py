"""A drop-in for django-redis users: what django-redis's own suite (`make compat`) does not check —
TTLs kept by incr_version and by incr beyond 64 bits, the extras under an open breaker, refused
options, primary/replica lists, compression, batching on a pipeline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django_redis import get_redis_connection

from caching.backend import serializer
from caching.backend import stats
from caching.backend.cache import RedisCache
from caching.backend.guard import CacheUnavailable
from caching.keys import conversation_history_key, user_memory_key
from tests.redis_server import free_port

HISTORY = [{"id": i, "role": "user", "content": f"message number {i} about lunch", "created_at": "2026-12-01"}
           for i in range(50)]


# --- TTLs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [None, 60])
def test_incr_version_keeps_the_ttl(timeout):
    cache.set("versioned", "v", timeout=timeout)
    assert cache.incr_version("versioned") == 2
    assert cache.ttl("versioned", version=2) == timeout or (timeout and 58 <= cache.ttl("versioned", version=2) <= 60)
    assert cache.get("versioned") is None and cache.get("versioned", version=2) == "v"
    assert cache.decr_version("versioned", version=2) == 1
    ttl = cache.ttl("versioned")
    assert ttl is None if timeout is None else 58 <= ttl <= 60


def test_incr_version_of_a_missing_key_raises_value_error():
    with pytest.raises(ValueError):
        cache.incr_version("never-set")


def test_incr_beyond_64_bits_is_done_in_python_keeping_the_ttl():
    cache.set("big", 2**63 - 1, timeout=60)
    assert cache.incr("big") == 2**63
    assert cache.decr("big", 2) == 2**63 - 2  # back within 64 bits: Redis adds again
    assert cache.incr("big") == 2**63 - 1
    assert 58 <= cache.ttl("big") <= 60
    cache.set("small", -(2**63), timeout=None)
    assert cache.decr("small") == -(2**63) - 1
    assert cache.ttl("small") is None


def test_incr_ignore_key_check_creates_the_key():
    assert cache.incr("counter", 5, ignore_key_check=True) == 5
    assert cache.incr("counter", ignore_key_check=True) == 6
    with pytest.raises(ValueError):
        cache.incr("other-counter")


def test_set_nx_and_xx():
    assert cache.set("k", 1, xx=True) is False and cache.get("k") is None
    assert cache.set("k", 1, nx=True) is True
    assert cache.set("k", 2, nx=True) is False and cache.get("k") == 1
    assert cache.set("k", 3, xx=True) is True and cache.get("k") == 3


def test_client_batches_writes_on_one_pipeline(redis_commands):
    pipe = get_redis_connection("default").pipeline(transaction=False)
    redis_commands.clear()
    assert cache.set("a", 1, client=pipe) is True
    cache.set_many({"b": 2, "c": 3}, client=pipe)
    cache.expire("a", 100, client=pipe)
    cache.delete("c", client=pipe)
    assert redis_commands == []  # queued, nothing sent yet
    pipe.execute()
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert 98 <= cache.ttl("a") <= 100


# --- the extras under an open breaker -----------------------------------------------------------
@pytest.mark.redis_server
def test_extras_count_failures_open_the_breaker_then_answer_like_a_missing_key(
    redis_server, use_redis, connect_attempts
):
    use_redis(redis_server.url, BREAKER_FAILURES=3, BREAKER_COOLDOWN=60)
    key = user_memory_key(9)
    cache.set(key, {"name": "Ann"}, timeout=100)
    assert 0 < cache.ttl(key) <= 100
    redis_server.stop()
    before = stats.local_counts()["user_memory"]
    assert cache.ttl(key) == 0 and cache.expire(key, 5) is False and cache.hlen(key) == 0
    assert cache.breaker.state == "open"  # three failures of django-redis methods opened it
    attempts = connect_attempts.count

    assert cache.ttl(key) == 0 and cache.pttl(key) == 0 and cache.persist(key) is False
    assert cache.keys("user_memory:*") == [] and list(cache.iter_keys("user_memory:*")) == []
    assert cache.delete_pattern("user_memory:*") == 0
    assert cache.smembers(key) == set() and cache.sadd(key, "x") == 0 and cache.sismember(key, "x") is False
    assert cache.smismember(key, "x", "y") == [False, False] and cache.spop(key) is None
    assert cache.hkeys(key) == [] and cache.hexists(key, "f") is False and cache.hset(key, "f", "v") == 0
    assert cache.zrange(key, 0, -1) == [] and cache.zscore(key, "m") is None and cache.zadd(key, {"m": 1}) == 0
    with pytest.raises(CacheUnavailable):
        cache.lock("some-lock")
    with pytest.raises(CacheUnavailable, match="breaker open"):
        get_redis_connection("default")
    with pytest.raises(CacheUnavailable):
        cache.zincrby(key, 1, "m")

    assert connect_attempts.count == attempts  # open: nothing touched the network
    after = stats.local_counts()["user_memory"]
    assert after["errors"] - before["errors"] == 3
    assert after["bypassed"] - before["bypassed"] >= 17


# --- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "value"), [
    ("CLIENT_CLASS", "django_redis.client.HerdClient"),
    ("CLIENT_CLASS", "django_redis.client.ShardClient"),
    ("SERIALIZER", "django_redis.serializers.json.JSONSerializer"),
    ("SERIALIZER", "django_redis.serializers.pickle.PickleSerializer"),
    ("PICKLE_VERSION", 4),
    ("IGNORE_EXCEPTIONS", False),
])
def test_options_we_cannot_honour_fail_at_start_up_naming_the_option(option, value):
    with pytest.raises(ImproperlyConfigured, match=f"{option}="):
        RedisCache("redis://127.0.0.1:6379/0", {"OPTIONS": {option: value}})


def test_django_redis_default_client_class_is_accepted_as_ours():
    backend = RedisCache("redis://127.0.0.1:6379/0", {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}})
    assert type(backend.client).__name__ == "SafeClient"
    assert type(backend.client._serializer).__name__ == "SafeSerializer"


@pytest.mark.redis_server
def test_a_primary_replica_list_reads_and_writes_only_the_primary(redis_server, use_redis, settings):
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    use_redis(redis_server.url)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [redis_server.url, nothing_there]}}
    key = user_memory_key(4)
    for _ in range(10):  # django-redis would send about every read to the (unreachable) replica
        assert cache.set(key, {"v": 1}) is True
        assert cache.get(key) == {"v": 1} and cache.has_key(key) and cache.get_many([key]) == {key: {"v": 1}}
        assert cache.ttl(key) > 0 and cache.keys("user_memory:*") == [key]
    assert cache.breaker.state == "closed" and cache.breaker.failures == 0


# --- compression ---------------------------------------------------------------------------------
def test_large_values_are_stored_compressed_small_ones_bare():
    key = conversation_history_key(3)
    cache.set(key, HISTORY)
    cache.set("count", 1)
    raw = cache.guarded(lambda r: r.get(cache.make_and_validate_key(key)))
    assert raw[:1] == b"\x03" and len(raw) < len(serializer.uncompressed(raw)) / 2
    assert cache.guarded(lambda r: r.get(cache.make_and_validate_key("count"))) == b"1"  # INCRBY still works
    assert cache.get(key) == HISTORY and cache.incr("count") == 2


def test_a_value_compressed_by_another_compressor_is_a_refused_miss(settings):
    key = conversation_history_key(5)
    serializer.use_compressor("django_redis.compressors.zlib.ZlibCompressor", {})
    try:
        cache.set(key, HISTORY)
    finally:
        serializer.use_compressor(settings.CACHES["default"]["OPTIONS"].get("COMPRESSOR"), {})
    before = stats.local_counts()["conversation_history"]
    assert cache.get(key, "miss") == "miss"
    assert stats.local_counts()["conversation_history"]["errors"] - before["errors"] == 1


# --- the stats flusher ---------------------------------------------------------------------------
_FLUSHER = """
import threading
import django
django.setup()
from django.core.cache import caches
from caching.backend import stats
running = lambda: "cache-stats-flusher" in [t.name for t in threading.enumerate()]
backend = caches["default"]
print(running())
backend.get("user_memory:{1}")  # the first count starts it
print(running())
stats.stop_flusher()
backend.get("user_memory:{1}")
print(running())
"""


def test_the_stats_flusher_starts_on_the_first_count_and_stops_for_good():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ENABLE_CACHE")}
    env.update(DJANGO_SETTINGS_MODULE="healthagent.settings", DJANGO_SECRET_KEY="test-only-secret-key-not-for-production-0123456789abcdef", TELEGRAM_WEBHOOK_SECRET="s")
    completed = subprocess.run([sys.executable, "-c", _FLUSHER], env=env, capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert completed.stdout.split() == ["False", "True", "False"], completed.stderr
