"""cache.get_or_set: one computation per key for concurrent misses (ARCHITECTURE.md §5.3), the Redis lock and
its expiry, errors never stored, per-value TTLs, and the local copy that serves while Redis is away."""

import copy
import logging
import threading

import pytest
from django.core.cache import cache, caches
from django_redis import get_redis_connection

from caching.backend import stats
from caching.backend.local_copy import LocalCopy
from caching.keys import usda_key, user_memory_key
from caching.backend.singleflight import lock_key
from tests.concurrency import FlightWaiters, in_threads

FOODS = [{"fdc_id": 1, "description": "Rice, white, cooked", "kcal": 130.0}]


class Upstream:
    """A source that counts its calls; `fail` makes it raise instead. With `hold=(waiters, n)` the
    first call answers only once n other callers wait for it (tests.concurrency.FlightWaiters)."""

    def __init__(self, value=FOODS, *, hold: tuple[FlightWaiters, int] | None = None, fail: bool = False) -> None:
        self.value, self.hold, self.fail = value, hold, fail
        self.calls = 0
        self.locks_seen: list[bytes | None] = []  # the lock key's content at each call
        self.lock_to_watch: str | None = None
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        if self.lock_to_watch:
            self.locks_seen.append(get_redis_connection("default").get(self.lock_to_watch))
        if self.hold is not None:
            waiters, n = self.hold
            waiters.wait_for(n)
        if self.fail:
            raise ValueError("upstream failed")
        return copy.deepcopy(self.value)


@pytest.fixture
def waiters(monkeypatch):
    return FlightWaiters(monkeypatch)


def raw_redis():
    return get_redis_connection("default")


@pytest.fixture
def lock_timeout(settings):
    """Use a cache whose get_or_set lock lives `seconds` (same Redis as the test run)."""

    def use(seconds: float):
        configured = copy.deepcopy(settings.CACHES)
        configured["default"].setdefault("OPTIONS", {})["LOCK_TIMEOUT"] = seconds
        settings.CACHES = configured
        return caches["default"]

    return use


# --- one computation per key ----------------------------------------------------------------------
def test_fifty_concurrent_misses_compute_once_and_all_get_the_value(waiters):
    key = usda_key("rice", 5)
    upstream = Upstream(hold=(waiters, 49))

    results, errors = in_threads(50, lambda: cache.get_or_set(key, upstream, timeout=60))

    assert upstream.calls == 1
    assert errors == [None] * 50
    assert results == [FOODS] * 50
    assert len({id(result) for result in results}) == 50  # each caller its own copy, as from Redis
    assert cache.get(key) == FOODS
    assert raw_redis().exists(lock_key(cache.make_key(key))) == 0  # released


def test_workers_in_other_processes_wait_for_the_lock_holder(waiters):
    key = usda_key("oats", 5)
    upstream = Upstream(hold=(waiters, 11))

    results, errors = in_threads(12, lambda: cache.get_or_set(key, upstream, timeout=60), own_process=True)

    assert upstream.calls == 1
    assert errors == [None] * 12 and results == [FOODS] * 12


def test_an_error_is_shared_by_its_flight_never_stored_and_the_next_call_computes_again(waiters):
    key = usda_key("kale", 5)
    failing = Upstream(hold=(waiters, 19), fail=True)

    results, errors = in_threads(20, lambda: cache.get_or_set(key, failing, timeout=60))

    assert failing.calls == 1
    assert all(isinstance(error, ValueError) for error in errors)
    assert cache.get(key, "nothing") == "nothing"
    assert raw_redis().exists(lock_key(cache.make_key(key))) == 0  # released at once, not left to expire

    working = Upstream()
    assert cache.get_or_set(key, working, timeout=60) == FOODS
    assert cache.get_or_set(key, working, timeout=60) == FOODS
    assert working.calls == 1


def test_an_error_in_another_process_lets_a_waiter_take_over(waiters):
    key = usda_key("leek", 5)
    calls = []
    lock = threading.Lock()

    def first_fails():
        with lock:
            calls.append(1)
            first = len(calls) == 1
        waiters.wait_for(5)  # the other five poll the lock: one of them takes it over
        if first:
            raise ValueError("upstream failed")
        return FOODS

    results, errors = in_threads(6, lambda: cache.get_or_set(key, first_fails, timeout=60), own_process=True)

    assert len(calls) == 2  # the failed holder, then one waiter that took the lock over
    assert sum(isinstance(error, ValueError) for error in errors) == 1
    assert [result for result in results if result is not None] == [FOODS] * 5
    assert cache.get(key) == FOODS


def test_a_crashed_holders_lock_expires_and_one_waiter_takes_over(lock_timeout, waiters):
    lock_timeout(0.5)
    key = usda_key("rye", 5)
    lock = lock_key(cache.make_key(key))
    raw_redis().set(lock, "crashed-holder", px=500)  # taken, never released
    upstream = Upstream(hold=(waiters, 10))  # all ten polled the crashed lock, the holder too
    upstream.lock_to_watch = lock

    results, errors = in_threads(10, lambda: cache.get_or_set(key, upstream, timeout=60), own_process=True)

    assert upstream.calls == 1
    assert errors == [None] * 10 and results == [FOODS] * 10
    # It ran under a lock of its own: the crashed holder's had expired, not been ignored.
    assert upstream.locks_seen[0] not in (None, b"crashed-holder")
    assert raw_redis().exists(lock) == 0


def test_a_lock_that_never_expires_delays_but_never_hangs_a_caller(lock_timeout, caplog):
    lock_timeout(0.1)
    key = usda_key("spelt", 5)
    raw_redis().set(lock_key(cache.make_key(key)), "somebody")  # no TTL: a bug elsewhere
    upstream = Upstream()

    with caplog.at_level(logging.WARNING, logger="caching"):
        assert cache.get_or_set(key, upstream, timeout=60) == FOODS

    assert upstream.calls == 1
    assert cache.get(key) == FOODS
    assert any("without the lock" in record.getMessage() for record in caplog.records)


def test_the_holder_does_not_release_a_lock_it_no_longer_holds(lock_timeout):
    lock_timeout(0.1)
    key = usda_key("millet", 5)
    lock = lock_key(cache.make_key(key))

    def outlived_by_its_lock():
        # As if this took longer than LOCK_TIMEOUT: the lock expired and another worker took it.
        raw_redis().set(lock, "successor", px=5000)
        return FOODS

    assert cache.get_or_set(key, outlived_by_its_lock, timeout=60) == FOODS
    assert raw_redis().get(lock) == b"successor"


# --- the Django API ---------------------------------------------------------------------------------
def test_a_hit_is_one_get(redis_commands):
    key = usda_key("barley", 5)
    cache.set(key, FOODS)
    redis_commands.clear()
    assert cache.get_or_set(key, Upstream(), timeout=60) == FOODS
    assert redis_commands == ["GET"]


def test_timeout_may_depend_on_the_value():
    def ttl(value):
        return 60 if value else 5

    assert cache.get_or_set("found", lambda: [1], timeout=ttl) == [1]
    assert cache.get_or_set("empty", lambda: [], timeout=ttl) == []
    assert cache.get_or_set("plain", [], timeout=ttl) == []
    assert 5 < cache.ttl("found") <= 60
    assert 0 < cache.ttl("empty") <= 5 and 0 < cache.ttl("plain") <= 5


def test_djangos_semantics_hold_for_none_versions_and_plain_defaults():
    assert cache.get_or_set("null", lambda: None) is None
    assert cache.get("null", "default") is None  # a computed None is stored, as Django says
    assert cache.get_or_set("null", lambda: 1) is None
    assert cache.get_or_set("k", "v", version=2) == "v"
    assert cache.get("k", version=1) is None and cache.get("k", version=2) == "v"
    cache.set("taken", "first")
    assert cache.get_or_set("taken", lambda: "second") == "first"


def test_each_call_counts_one_hit_or_one_miss():
    key = usda_key("quinoa", 5)
    before = stats.local_counts()["usda"]
    cache.get_or_set(key, lambda: FOODS, timeout=60)
    cache.get_or_set(key, lambda: FOODS, timeout=60)
    after = stats.local_counts()["usda"]
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 1)
    assert after["sets"] - before["sets"] == 1


# --- Redis unavailable ------------------------------------------------------------------------------
@pytest.mark.redis_server
@pytest.mark.django_db  # a breaker probe replays the invalidation outbox from the database
def test_with_redis_down_threads_share_one_computation_and_the_local_copy_serves_repeats(
    redis_server, use_redis, waiters
):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=30)
    redis_server.stop()
    key = usda_key("rice", 5)
    upstream = Upstream(hold=(waiters, 19))

    results, errors = in_threads(20, lambda: cache.get_or_set(key, upstream, timeout=60))
    assert upstream.calls == 1
    assert errors == [None] * 20 and results == [FOODS] * 20

    before = stats.local_counts()["usda"]
    for _ in range(5):
        assert cache.get_or_set(key, upstream, timeout=60) == FOODS
    assert upstream.calls == 1
    assert stats.local_counts()["usda"]["hits"] - before["hits"] == 5


@pytest.mark.redis_server
@pytest.mark.django_db
def test_values_computed_before_an_outage_are_served_during_it(redis_server, use_redis):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=30)
    key = usda_key("beans", 5)
    upstream = Upstream()
    assert cache.get_or_set(key, upstream, timeout=60) == FOODS

    redis_server.stop()
    assert cache.get_or_set(key, upstream, timeout=60) == FOODS
    assert upstream.calls == 1


@pytest.mark.redis_server
@pytest.mark.django_db
def test_the_local_copy_never_serves_data_that_is_invalidated_in_redis(redis_server, use_redis):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=30)
    redis_server.stop()
    loads = []

    def load():
        loads.append(1)
        return {"name": "Ann"}

    assert cache.get_or_set(user_memory_key(1), load, 60) == {"name": "Ann"}
    assert cache.get_or_set(user_memory_key(1), load, 60) == {"name": "Ann"}
    assert len(loads) == 2  # user data: a copy here would miss invalidations made meanwhile


@pytest.mark.redis_server
@pytest.mark.django_db
def test_a_redis_that_stops_mid_run_opens_the_breaker_within_one_call(redis_server, use_redis):
    use_redis(redis_server.url, BREAKER_FAILURES=3, BREAKER_COOLDOWN=30)
    redis_server.stop()
    assert cache.get_or_set(usda_key("corn", 5), lambda: FOODS, timeout=60) == FOODS
    assert cache.breaker.state == "open"  # read, lock, store: three failures, as Django's get/add/get


def test_clear_empties_the_local_copy_too():
    key = usda_key("peas", 5)
    cache.get_or_set(key, lambda: FOODS, timeout=60)
    assert len(cache.local_copy) == 1
    cache.clear()
    assert len(cache.local_copy) == 0


# --- the local copy ---------------------------------------------------------------------------------
def test_local_copy_is_bounded_least_recently_used_first():
    local = LocalCopy(max_entries=2)
    local.set("a", b"1", None)
    local.set("b", b"2", None)
    assert local.get("a") == b"1"  # now b is the least recently used
    local.set("c", b"3", None)
    assert (local.get("a"), local.get("b"), local.get("c")) == (b"1", None, b"3")
    assert len(local) == 2


def test_local_copy_honours_ttls(monkeypatch):
    from caching.backend import local_copy

    now = [1000.0]
    monkeypatch.setattr(local_copy.time, "monotonic", lambda: now[0])
    local = LocalCopy()
    local.set("hour", b"[]", 3_600_000)
    local.set("day", b"[1]", 86_400_000)
    local.set("zero", b"[2]", 0)
    assert local.get("zero") is None
    now[0] += 3601
    assert local.get("hour") is None and local.get("day") == b"[1]"
    now[0] += 86_400
    assert local.get("day") is None
