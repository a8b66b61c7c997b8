"""The backend as callers see it: Django's API, safe values, Redis errors answered, one round trip per hit."""

import logging
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import orjson
import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import CacheKeyWarning
from django_redis import get_redis_connection

from caching.backend import stats
from caching.keys import conversation_history_key, usda_key, user_memory_key
from caching.ops.startup import announce

PROFILE = {"name": "Ann", "age": 34, "prefs": {"units": "metric"}}


class _Exploit:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _delta(before, namespace, field):
    return stats.local_counts()[namespace][field] - before[namespace][field]


@pytest.mark.redis_server
def test_a_pickle_planted_with_redis_cli_under_a_real_key_is_refused(live_redis, tmp_path, caplog):
    key = user_memory_key(7)
    assert cache.set(key, PROFILE)
    marker = tmp_path / "unpickled"
    live_redis.cli("SET", cache.make_key(key), stdin=pickle.dumps(_Exploit(marker)))
    before = stats.local_counts()

    with caplog.at_level(logging.WARNING, logger="caching"):
        assert cache.get(key, "default") == "default"

    assert not marker.exists()  # never unpickled
    assert any("refused" in r.getMessage() and "user_memory:{7}" in r.getMessage() for r in caplog.records)
    assert _delta(before, "user_memory", "errors") == 1 and _delta(before, "user_memory", "misses") == 1
    assert live_redis.cli("EXISTS", cache.make_key(key)) == "0"  # removed, so the next fill can replace it
    assert cache.get_or_set(key, lambda: PROFILE) == PROFILE
    assert cache.get(key) == PROFILE


@pytest.mark.redis_server
def test_json_values_are_stored_as_json_and_other_values_as_signed_bytes(live_redis):
    cache.set(user_memory_key(1), PROFILE)
    assert orjson.loads(live_redis.cli("GET", cache.make_key(user_memory_key(1)))) == PROFILE
    cache.set("tuple", (1, 2))
    assert cache.get("tuple") == (1, 2)


def test_the_django_api_returns_what_django_documents():
    assert cache.set_many({"a": 1, "b": None}) == []
    assert cache.get_many(iter(["a", "b", "c"])) == {"a": 1, "b": None}
    assert cache.delete_many([]) is None and cache.delete_many(["a", "nothing"]) == 1  # as django-redis
    assert cache.get("b", "default") is None  # a cached None is not a miss
    cache.set("null", None)
    assert cache.incr_version("null") == 2
    with pytest.raises(ValueError):
        cache.incr("missing")
    with pytest.raises(TypeError):
        cache.incr("null", version=2)
    cache.set("n", 41)
    assert cache.incr("n") == 42 and cache.decr("n", 2) == 40
    cache.set("forever", 1, timeout=None)
    assert cache.touch("forever", timeout=None) is True
    assert cache.add("zero", 1, timeout=0) is True and cache.get("zero") is None
    assert cache.delete("n") is True and cache.delete("n") is False


@pytest.mark.parametrize(
    "key", ["with space", "control\x01char", "x" * 260],
)
def test_bad_keys_warn_as_django_says(key):
    with pytest.warns(CacheKeyWarning):
        cache.get(key)


def test_non_ascii_keys_do_not_warn_as_in_django():
    # Django's runner turns warnings into errors; Redis takes any bytes, and so does Django.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.set("ключ", "value") is True
        assert cache.get("ключ") == "value"


def test_our_key_functions_never_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        for key in (user_memory_key(2**62), conversation_history_key(1), usda_key("crème brûlée " * 100, 200)):
            cache.set(key, 1)
            assert cache.get(key) == 1


def test_a_hit_is_one_round_trip(redis_commands):
    key = user_memory_key(5)
    cache.set(key, PROFILE)
    redis_commands.clear()
    assert cache.get(key) == PROFILE
    assert redis_commands == ["GET"]


def test_hits_and_misses_log_at_debug_only(caplog):
    key = user_memory_key(6)
    with caplog.at_level(logging.DEBUG, logger="caching"):
        cache.get(key)
        cache.set(key, PROFILE)
        cache.get(key)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("caching")]
    assert (logging.DEBUG, "cache MISS user_memory:{6}") in messages
    assert (logging.DEBUG, "cache HIT user_memory:{6}") in messages
    assert all(level == logging.DEBUG for level, _ in messages)


def test_redis_answering_wrongtype_is_a_counted_logged_miss(caplog):
    key = usda_key("rice", 5)
    get_redis_connection().hset(cache.make_key(key), "field", "value")
    before = stats.local_counts()
    with caplog.at_level(logging.DEBUG, logger="caching"):
        assert cache.get(key, "fallback") == "fallback"
        assert cache.get_or_set(key, lambda: ["rice"]) == ["rice"]
    assert _delta(before, "usda", "errors") >= 2
    warnings_logged = [r for r in caplog.records if r.levelno == logging.WARNING and "WRONGTYPE" in r.getMessage()]
    assert len(warnings_logged) == 1  # then DEBUG: a broken key must not flood the log
    assert cache.breaker.state == "closed"  # Redis answered: it is up


@pytest.mark.redis_server
def test_redis_out_of_memory_is_counted_and_the_caller_still_answered(redis_server, use_redis):
    use_redis(redis_server.url)
    redis_server.cli("CONFIG", "SET", "maxmemory", "1")  # noeviction (the default): every write is OOM
    before = stats.local_counts()
    assert cache.set(user_memory_key(3), PROFILE) is False
    assert cache.set_many({user_memory_key(4): PROFILE}) == [user_memory_key(4)]
    assert cache.get_or_set(user_memory_key(3), lambda: PROFILE) == PROFILE
    assert _delta(before, "user_memory", "errors") >= 3
    assert cache.breaker.state == "closed"


def test_django_redis_tooling_still_works():
    key = user_memory_key(8)
    cache.set(key, PROFILE, timeout=100)
    assert 0 < cache.ttl(key) <= 100
    assert cache.expire(key, 500) and cache.ttl(key) > 100
    with cache.lock("some-lock", timeout=5):
        pass
    assert cache.keys("user_memory:*") == [key]
    assert cache.delete_pattern("user_memory:*") >= 1
    assert get_redis_connection("default").ping()
    client = get_redis_connection("default")
    if isinstance(client, redis.RedisCluster):  # one pool per node, blocking, 10 each
        assert client.get_default_node().redis_connection.connection_pool.max_connections == 10
    elif settings.REDIS_TOPOLOGY is None and not os.environ.get("REDIS_POOL_MAX_SIZE", "").strip():
        # One connection per thread using Redis at once, no thread waits for another's (settings).
        assert type(client.connection_pool) is redis.ConnectionPool
        assert client.connection_pool.max_connections == 10_000


@pytest.mark.redis_server
def test_the_start_up_line_names_redis_without_its_password(redis_server, use_redis, caplog):
    redis_server.cli("CONFIG", "SET", "requirepass", "s3cret")
    use_redis(redis_server.url.replace("redis://", "redis://:s3cret@"))
    with caplog.at_level(logging.INFO, logger="caching"):
        announce()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "caching"]
    assert f"redis://:***@127.0.0.1:{redis_server.port}/0 answered PING" in line
    assert "s3cret" not in line


def test_the_start_up_line_says_when_redis_did_not_answer(use_redis, caplog):
    use_redis("redis://127.0.0.1:1/0")
    with caplog.at_level(logging.INFO, logger="caching"):
        announce()
    (record,) = [r for r in caplog.records if r.name == "caching"]
    assert record.levelno == logging.WARNING and "did not answer" in record.getMessage()


@pytest.mark.parametrize("url", ["redis://localhost:port/0", "redis://localhost:6379/zero", "http://localhost:6379"])
def test_an_unparsable_redis_url_fails_at_start_up_naming_the_variable(url):
    completed = subprocess.run(
        [sys.executable, "-c", "import healthagent.settings"],
        env={"REDIS_URL": url, "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef", "TELEGRAM_WEBHOOK_SECRET": "s", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode != 0
    assert "ImproperlyConfigured: REDIS_URL" in completed.stderr
