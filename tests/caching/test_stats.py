"""Stats per namespace: counted in-process, flushed in batches, summed across processes (ARCHITECTURE.md §5.6)."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from caching.backend import stats
from caching.ops.report import read_fleet_stats
from caching.keys import conversation_history_key, usda_key, user_memory_key

ROOT = Path(__file__).resolve().parents[2]


def _delta(before, after):
    return {
        ns: {field: count - before[ns][field] for field, count in counts.items() if count - before[ns][field]}
        for ns, counts in after.items()
        if any(count - before[ns][field] for field, count in counts.items())
    }


def test_every_call_counts_under_its_key_namespace():
    before = stats.local_counts()
    cache.get(user_memory_key(1))                                       # miss
    cache.set(user_memory_key(1), {"a": 1})                             # set
    cache.get(user_memory_key(1))                                       # hit
    cache.get_many([usda_key("egg", 5), user_memory_key(1)])            # miss, hit
    cache.set_many({conversation_history_key(1): [], usda_key("egg", 5): []})
    cache.delete(conversation_history_key(1))
    cache.delete_many([usda_key("egg", 5), usda_key("ham", 5)])
    cache.get("a-django-key")                                           # not ours
    assert _delta(before, stats.local_counts()) == {
        "user_memory": {"hits": 2, "misses": 1, "sets": 1},
        "usda": {"misses": 1, "sets": 1, "deletes": 2},
        "conversation_history": {"sets": 1, "deletes": 1},
        "other": {"misses": 1},
    }


def test_capture_collects_this_threads_events_only():
    cache.set(user_memory_key(2), {"a": 1})
    other_thread = threading.Thread(target=lambda: [cache.get(usda_key("x", 1)) for _ in range(50)])
    with stats.capture() as events:
        other_thread.start()
        cache.get(user_memory_key(2))
        cache.get(conversation_history_key(2))
        with stats.capture() as inner:
            cache.set(usda_key("y", 1), [])
        other_thread.join()
    assert events == [("user_memory", "hit"), ("conversation_history", "miss")]
    assert inner == [("usda", "set")]
    cache.get(user_memory_key(2))
    assert len(events) == 2  # closed


def test_flush_sends_each_count_once():
    assert stats.reset()
    cache.get(usda_key("apple", 5))
    cache.set(usda_key("apple", 5), [{"fdcId": 1}])
    for _ in range(3):
        cache.get(usda_key("apple", 5))
    assert stats.flush() and stats.flush()
    usda = read_fleet_stats()["namespaces"]["usda"]
    assert usda == {"hits": 3, "misses": 1, "hit_rate": 0.75, "sets": 1, "deletes": 0, "errors": 0, "bypassed": 0}


@pytest.mark.redis_server
# The breaker's probe replays invalidations kept in the database (caching.consistency.outbox).
@pytest.mark.django_db
def test_counts_that_cannot_be_flushed_are_kept_and_flushed_later(redis_server, use_redis):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=0.3)
    assert stats.reset()
    redis_server.stop()
    for _ in range(5):
        cache.get(user_memory_key(3))  # the first fails (error), the rest are bypassed
    assert stats.flush() is False
    redis_server.start()
    time.sleep(0.35)
    assert stats.flush() is True
    counts = read_fleet_stats()["namespaces"]["user_memory"]
    assert (counts["errors"], counts["bypassed"], counts["hits"], counts["misses"]) == (1, 4, 0, 0)


_WORKER = """
import django
django.setup()
from django.core.cache import cache
from caching.keys import usda_key, user_memory_key
key = usda_key("apple {n}", 5)
cache.get(key)
cache.set(key, [{{"fdcId": {n}}}])
for _ in range(3):
    assert cache.get(key) == [{{"fdcId": {n}}}]
cache.get(user_memory_key({n}))
"""  # exits without flushing by hand: the at-exit flush must deliver the counts


def _env(redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "ENABLE_CACHE", "REDIS_CLUSTER_NODES", "REDIS_SENTINELS")}
    env.update(REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="healthagent.settings",
               DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef"), TELEGRAM_WEBHOOK_SECRET="stats-test")
    return env


@pytest.mark.redis_server
def test_counts_from_two_processes_add_up_in_cache_stats_json(redis_server):
    env = _env(redis_server.url)
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER.format(n=n)], cwd=ROOT, env=env) for n in (1, 2)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]

    out = subprocess.run([sys.executable, "manage.py", "cache_stats", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    report = json.loads(out)
    assert report["namespaces"]["usda"] == {
        "hits": 6, "misses": 2, "hit_rate": 0.75, "sets": 2, "deletes": 0, "errors": 0, "bypassed": 0
    }
    assert report["namespaces"]["user_memory"]["misses"] == 2
    assert report["redis"]["reachable"] is True and report["redis"]["embedded"] is False
