"""Redis down costs nothing but speed (ARCHITECTURE.md §5.4)."""

import logging
import pickle
import time

import pytest
from django.core.cache import cache

from caching.backend import breaker as breaker_module
from caching.backend import stats
from caching.backend.breaker import CircuitBreaker, breaker_state
from caching.keys import user_memory_key

COOLDOWN = 1.0
PROFILES = {uid: {"user_id": uid, "name": f"user {uid}", "kcal_target": 1800 + uid} for uid in range(1, 6)}


class Source:
    """Stands in for the database: what a bot turn would load on a miss."""

    def __init__(self) -> None:
        self.loads = 0

    def load(self, user_id: int) -> dict:
        self.loads += 1
        return PROFILES[user_id]

    def turn(self, user_id: int) -> dict:
        return cache.get_or_set(user_memory_key(user_id), lambda: self.load(user_id), 60)


# --- the state machine --------------------------------------------------------------------------
def test_opens_after_consecutive_failures_only(monkeypatch):
    b = CircuitBreaker("test", failure_threshold=3, cooldown=10)
    b.failed(ConnectionError("x"))
    b.failed(ConnectionError("x"))
    b.succeeded()  # not consecutive any more
    b.failed(ConnectionError("x"))
    b.failed(ConnectionError("x"))
    assert b.state == "closed" and b.allow()
    b.failed(ConnectionError("x"))
    assert b.state == "open" and not b.allow()


def test_one_probe_after_the_cooldown_then_closed_or_open_again(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(breaker_module.time, "monotonic", lambda: now[0])
    b = CircuitBreaker("test", failure_threshold=1, cooldown=5)
    b.failed(ConnectionError("down"))
    now[0] += 4.9
    assert not b.allow()
    now[0] += 0.2
    assert b.allow() and b.state == "half-open"
    assert not b.allow()  # only one probe at a time
    b.failed(ConnectionError("still down"))
    assert b.state == "open" and not b.allow()
    now[0] += 5.1
    assert b.allow()
    b.succeeded()
    assert b.state == "closed" and b.allow()


def test_a_probe_that_never_reports_back_does_not_block_forever(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(breaker_module.time, "monotonic", lambda: now[0])
    b = CircuitBreaker("test", failure_threshold=1, cooldown=5)
    b.failed(ConnectionError("down"))
    now[0] += 5
    assert b.allow()  # the probe's caller raises before reaching Redis and never reports
    now[0] += 5
    assert b.allow()


# --- a real Redis, stopped mid-run --------------------------------------------------------------
@pytest.mark.redis_server
# The breaker's probe replays invalidations kept in the database (caching.consistency.outbox).
@pytest.mark.django_db
def test_redis_stopped_mid_run_answers_stay_right_and_no_connection_is_attempted_once_open(
    redis_server, use_redis, connect_attempts, caplog
):
    use_redis(redis_server.url, BREAKER_FAILURES=3, BREAKER_COOLDOWN=COOLDOWN)
    source = Source()
    caplog.set_level(logging.DEBUG, logger="caching")
    for user_id in PROFILES:
        assert source.turn(user_id) == PROFILES[user_id]
        assert source.turn(user_id) == PROFILES[user_id]
    assert source.loads == len(PROFILES)  # warm: second turns were hits

    redis_server.stop()
    before = stats.local_counts()
    assert source.turn(1) == PROFILES[1]  # get, add, get: three failures open the breaker
    assert breaker_state() == "open"
    attempts_until_open = connect_attempts.count
    assert attempts_until_open <= 4  # the turn's three, perhaps one from the stats flusher thread

    for _ in range(20):
        for user_id in PROFILES:
            assert source.turn(user_id) == PROFILES[user_id]
    assert connect_attempts.count == attempts_until_open  # open: not one connection attempted
    assert stats.local_counts()["user_memory"]["bypassed"] - before["user_memory"]["bypassed"] >= 20 * 3
    assert stats.local_counts()["user_memory"]["errors"] - before["user_memory"]["errors"] <= 3

    redis_server.start()  # same port, empty
    time.sleep(COOLDOWN + 0.05)
    loads_before = source.loads
    assert source.turn(1) == PROFILES[1]  # the probe succeeds: closed, and the value is cached again
    assert breaker_state() == "closed"
    assert source.turn(1) == PROFILES[1]
    assert source.loads == loads_before + 1  # caching resumed: the second turn was a hit

    changes = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(changes) == 2, changes  # one line when it opened, one when it closed
    assert "breaker open" in changes[0] and "breaker closed" in changes[1]


@pytest.mark.redis_server
def test_a_hung_redis_costs_a_few_socket_timeouts_then_nothing(redis_server, use_redis):
    use_redis(redis_server.url, BREAKER_FAILURES=3, BREAKER_COOLDOWN=30, SOCKET_TIMEOUT=0.2)
    source = Source()
    assert source.turn(1) == PROFILES[1]
    redis_server.pause()  # connections are accepted, replies never come
    try:
        before = stats.local_counts()["user_memory"]
        assert source.turn(1) == PROFILES[1]
        assert breaker_state() == "open"
        # Counts, not seconds: at most the threshold of calls waited for a socket timeout (the stats
        # flusher may take one of them), and once open no call waits at all.
        timed_out = stats.local_counts()["user_memory"]["errors"] - before["errors"]
        assert 1 <= timed_out <= 3
        for _ in range(100):
            assert source.turn(1) == PROFILES[1]
        after = stats.local_counts()["user_memory"]
        assert after["errors"] - before["errors"] == timed_out
        assert after["bypassed"] - before["bypassed"] >= 100
    finally:
        redis_server.resume()


@pytest.mark.redis_server
def test_programming_errors_are_not_swallowed_even_with_redis_down(redis_server, use_redis):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=30)
    redis_server.stop()
    cache.get("anything")
    assert breaker_state() == "open"

    class Unpicklable:
        def __getstate__(self):
            raise pickle.PickleError("cannot")

    with pytest.raises(pickle.PickleError):
        cache.set("k", Unpicklable())
    with pytest.raises(TypeError):
        cache.set("k", 1, timeout="soon")
    with pytest.raises(TypeError):
        user_memory_key("42")


def test_disabled_cache_gives_the_same_answers_without_any_redis(settings):
    settings.CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}
    source = Source()
    assert source.turn(1) == PROFILES[1] and source.turn(1) == PROFILES[1]
    assert source.loads == 2  # nothing is stored
    assert cache.get(user_memory_key(1), "miss") == "miss"
    assert cache.guarded(lambda r: r.ping(), default="no redis") == "no redis"
    assert breaker_state() == "closed"


@pytest.mark.redis_server
def test_probe_hooks_run_before_the_probe_and_can_fail_it(redis_server, use_redis, monkeypatch):
    from caching.backend import guard

    seen = []

    def hook(client, cache_):
        seen.append(client.ping())
        if len(seen) == 1:
            raise guard.RedisConnectionError("not ready yet")

    monkeypatch.setattr(guard, "PROBE_HOOKS", [hook])
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=0.2)
    redis_server.stop()
    cache.get(user_memory_key(1))
    assert breaker_state() == "open" and seen == []  # closed calls never run hooks
    redis_server.start()
    time.sleep(0.25)
    assert cache.get(user_memory_key(1), "miss") == "miss"
    assert breaker_state() == "open"  # the hook's failure failed the probe
    time.sleep(0.25)
    cache.set(user_memory_key(1), PROFILES[1])
    assert breaker_state() == "closed"
    assert len(seen) >= 2 and all(seen)  # (the stats flusher thread may have been a probe too)
    assert cache.get(user_memory_key(1)) == PROFILES[1]
