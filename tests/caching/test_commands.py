"""manage.py cache_stats and cache_invalidate, and the services behind them."""

import json
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django_redis import get_redis_connection

from caching.ops import actions
from caching.backend import stats
from caching.keys import conversation_history_key, usda_key, user_memory_key
from healthagent.errors import ApplicationError


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _some_traffic():
    assert stats.reset()
    cache.set(user_memory_key(1), {"name": "Ann"})
    for _ in range(3):
        cache.get(user_memory_key(1))
    cache.get(usda_key("kiwi", 5))


def test_cache_stats_json_has_the_design_schema():
    _some_traffic()
    report = json.loads(run("cache_stats", "--json"))
    assert set(report) == {"enabled", "backend", "namespaces", "redis"}
    assert report["enabled"] is True and report["backend"] == "caching.backend.cache.RedisCache"
    assert set(report["namespaces"]) >= {"user_memory", "usda", "conversation_history"}
    assert report["namespaces"]["user_memory"] == {
        "hits": 3, "misses": 0, "hit_rate": 1.0, "sets": 1, "deletes": 0, "errors": 0, "bypassed": 0
    }
    assert report["namespaces"]["usda"]["hit_rate"] == 0.0
    assert report["namespaces"]["conversation_history"]["hit_rate"] is None
    redis = report["redis"]
    for field in ("url", "embedded", "reachable", "version", "keyspace_hits", "keyspace_misses", "used_memory",
                  "maxmemory", "maxmemory_policy", "evicted_keys", "connected_clients", "db_keys", "breaker"):
        assert field in redis
    assert redis["reachable"] is True and redis["breaker"] == "closed" and redis["db_keys"] >= 1


def test_cache_stats_table_is_readable():
    _some_traffic()
    table = run("cache_stats")
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("namespace"))
    assert header.split() == ["namespace", "hits", "misses", "hit", "rate", "sets", "deletes", "errors", "bypassed"]
    assert next(line for line in lines if line.startswith("user_memory")).split() == [
        "user_memory", "3", "0", "100.0%", "1", "0", "0", "0"
    ]
    assert "breaker in this process: closed" in table
    assert "keys in this database" in table


def test_reset_zeroes_the_counters_and_leaves_the_data():
    _some_traffic()
    assert "reset" in run("cache_stats", "--reset")
    report = json.loads(run("cache_stats", "--json"))
    assert all(counts[f] == 0 for counts in report["namespaces"].values()
               for f in ("hits", "misses", "sets", "deletes", "errors", "bypassed"))
    assert get_redis_connection().exists(cache.make_key(user_memory_key(1))) == 1


def test_cache_stats_exits_1_when_redis_cannot_be_reached(use_redis):
    use_redis("redis://127.0.0.1:1/0")
    with pytest.raises(CommandError, match="cannot be reached") as raised:
        run("cache_stats")
    assert raised.value.returncode == 1
    with pytest.raises(CommandError):
        run("cache_stats", "--json")
    with pytest.raises(CommandError, match="counters not reset"):
        run("cache_stats", "--reset")


def test_cache_stats_says_when_caching_is_disabled(settings):
    settings.CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}
    assert json.loads(run("cache_stats", "--json"))["enabled"] is False
    assert "disabled" in run("cache_stats")


def test_invalidate_user_removes_that_users_entries_only():
    cache.set(user_memory_key(42), {"a": 1})
    cache.set(conversation_history_key(42), [])
    cache.set(user_memory_key(43), {"b": 2})
    assert run("cache_invalidate", "--user", "42").strip() == "Removed 2 cached entries of user 42."
    assert cache.get(user_memory_key(42)) is None and cache.get(conversation_history_key(42)) is None
    assert cache.get(user_memory_key(43)) == {"b": 2}
    assert actions.invalidate_user(user_id=42) == 0


def test_invalidate_namespace_removes_every_version_of_that_namespace_only():
    for n in range(30):
        cache.set(usda_key(f"food {n}", 5), [n])
    cache.set(usda_key("old shape", 5), [], version=7)
    cache.set(user_memory_key(1), {"a": 1})
    assert run("cache_invalidate", "--namespace", "usda").strip() == "Removed 31 keys in namespace usda."
    assert cache.get(usda_key("food 3", 5)) is None
    assert cache.get(user_memory_key(1)) == {"a": 1}


def test_an_unknown_namespace_is_an_error():
    with pytest.raises(ApplicationError, match="Unknown cache namespace"):
        actions.invalidate_namespace(namespace="sessions")
    with pytest.raises(CommandError, match="Unknown cache namespace"):
        run("cache_invalidate", "--namespace", "sessions")
    with pytest.raises(CommandError):
        run("cache_invalidate")  # one of --user / --namespace is required


# The breaker's probe replays invalidations kept in the database (caching.consistency.outbox).
@pytest.mark.django_db
def test_invalidating_with_redis_away_says_so(use_redis):
    use_redis("redis://127.0.0.1:1/0")
    with pytest.raises(CommandError, match="Redis cannot be reached"):
        run("cache_invalidate", "--user", "1")
