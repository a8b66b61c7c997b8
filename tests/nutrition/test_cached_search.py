"""search_foods through the cache (ARCHITECTURE.md §5.3): one FDC request per normalised query and limit,
whatever the concurrency; FDC errors never cached; "no results" kept for an hour at most; Redis
down costs FDC requests only for foods this process has not seen."""

import copy

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection

from caching.keys import usda_key
from caching.backend.singleflight import lock_key
from healthagent.errors import ApplicationError
from nutrition.fdc import UNAVAILABLE
from nutrition.selectors import search_foods
from tests.concurrency import FlightWaiters, in_threads
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food
from tests.redis_server import redis_server, use_redis  # noqa: F401

BANANA = {"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS), fdc_food(2, "Banana chips")]}


@pytest.fixture
def waiters(monkeypatch):
    return FlightWaiters(monkeypatch)


@pytest.fixture
def expected(fake_fdc):
    """What an uncached lookup of "banana" answers (the request it cost is forgotten)."""
    fake_fdc.add(body=BANANA)
    answer = search_foods(query="banana")
    cache.clear()
    fake_fdc.requests.clear()
    fake_fdc.script.clear()
    return answer


def test_fifty_threads_asking_for_one_new_food_make_one_fdc_request(fake_fdc, expected, waiters):
    fake_fdc.add(body=BANANA, hold=lambda: waiters.wait_for(49))  # FDC answers once the 49 others wait

    results, errors = in_threads(50, lambda: search_foods(query="banana"))

    assert len(fake_fdc.requests) == 1
    assert errors == [None] * 50
    assert results == [expected] * 50


def test_workers_in_other_processes_make_one_fdc_request_too(fake_fdc, expected, waiters):
    fake_fdc.add(body=BANANA, hold=lambda: waiters.wait_for(9))  # the 9 others poll the Redis lock

    results, errors = in_threads(10, lambda: search_foods(query="banana"), own_process=True)

    assert len(fake_fdc.requests) == 1
    assert errors == [None] * 10 and results == [expected] * 10


def test_a_repeated_query_in_any_spelling_reaches_fdc_once(fake_fdc, expected):
    fake_fdc.add(body=BANANA)

    answers = [search_foods(query=q) for q in ("banana", "Banana", "  BANANA ", "ｂａｎａｎａ", "banana\t")]

    assert answers == [expected] * 5
    assert len(fake_fdc.requests) == 1
    assert search_foods(query="banana", limit=2) == expected[:2]  # another limit: another key
    assert len(fake_fdc.requests) == 2


def test_a_failing_fdc_is_not_cached_and_the_next_call_asks_again(fake_fdc, settings, expected):
    settings.USDA_RETRIES = 0
    fake_fdc.add(500, {"error": "down"})
    fake_fdc.add(body=BANANA)

    with pytest.raises(ApplicationError) as failure:
        search_foods(query="banana")

    assert failure.value.status == 503 and failure.value.message == UNAVAILABLE
    key = cache.make_key(usda_key("banana", 5))
    assert get_redis_connection("default").exists(key, lock_key(key)) == 0  # no error, no lock left
    assert search_foods(query="banana") == expected
    assert search_foods(query="banana") == expected
    assert len(fake_fdc.requests) == 2


def test_concurrent_callers_of_a_failing_fdc_share_one_request_and_nothing_is_cached(fake_fdc, settings, expected,
                                                                                     waiters):
    settings.USDA_RETRIES = 0
    fake_fdc.add(503, {"error": "down"}, hold=lambda: waiters.wait_for(19))
    fake_fdc.add(body=BANANA)

    results, errors = in_threads(20, lambda: search_foods(query="banana"))

    assert len(fake_fdc.requests) == 1
    assert all(isinstance(error, ApplicationError) and error.status == 503 for error in errors)
    assert search_foods(query="banana") == expected
    assert len(fake_fdc.requests) == 2


def test_no_results_are_cached_for_an_hour_at_most_results_for_a_day(fake_fdc, settings):
    fake_fdc.add(body={"foods": []})
    assert search_foods(query="xyzzy") == []
    assert search_foods(query="XYZZY") == []
    assert len(fake_fdc.requests) == 1
    assert 0 < cache.ttl(usda_key("xyzzy", 5)) <= settings.CACHE_TTL_NUTRITION_EMPTY == 3600

    fake_fdc.script.clear()  # (the fake repeats its last answer: start a new script)
    fake_fdc.add(body=BANANA)
    assert search_foods(query="banana") != []
    assert settings.CACHE_TTL_NUTRITION_EMPTY < cache.ttl(usda_key("banana", 5)) <= settings.CACHE_TTL_NUTRITION


def test_a_crashed_holders_lock_delays_the_lookup_and_then_one_waiter_asks_fdc(fake_fdc, settings, expected,
                                                                              waiters):
    configured = copy.deepcopy(settings.CACHES)
    configured["default"]["OPTIONS"]["LOCK_TIMEOUT"] = 0.5
    settings.CACHES = configured
    lock = lock_key(cache.make_key(usda_key("banana", 5)))
    get_redis_connection("default").set(lock, "crashed-worker", px=500)
    fake_fdc.add(body=BANANA, hold=lambda: waiters.wait_for(10))  # all ten polled the crashed lock, the holder too

    results, errors = in_threads(10, lambda: search_foods(query="banana"), own_process=True)

    assert len(fake_fdc.requests) == 1
    assert errors == [None] * 10 and results == [expected] * 10
    assert get_redis_connection("default").exists(lock) == 0


def test_sample_data_is_never_cached_under_usda_keys(settings, fake_fdc):
    settings.NUTRITION_PROVIDER = "sample"
    sample = search_foods(query="banana")
    assert {food["source"] for food in sample} == {"sample"}
    assert cache.get(usda_key("banana", 5)) is None

    settings.NUTRITION_PROVIDER = "usda"
    fake_fdc.add(body=BANANA)
    assert {food["source"] for food in search_foods(query="banana")} == {"usda"}


def test_with_the_cache_disabled_every_lookup_asks_fdc(settings, fake_fdc, expected):
    settings.CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}
    fake_fdc.add(body=BANANA)
    assert search_foods(query="banana") == expected
    assert search_foods(query="banana") == expected
    assert len(fake_fdc.requests) == 2


# --- Redis unavailable ------------------------------------------------------------------------------
@pytest.mark.redis_server
@pytest.mark.django_db  # a breaker probe replays the invalidation outbox from the database
def test_with_redis_down_answers_stay_right_and_repeats_do_not_reach_fdc(redis_server, use_redis, fake_fdc,
                                                                         expected, waiters):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=30)
    redis_server.stop()
    fake_fdc.add(body=BANANA, hold=lambda: waiters.wait_for(19))  # the 19 others follow this process's flight

    results, errors = in_threads(20, lambda: search_foods(query="banana"))
    assert len(fake_fdc.requests) == 1
    assert errors == [None] * 20 and results == [expected] * 20

    assert [search_foods(query=q) for q in ("Banana", " banana", "BANANA")] == [expected] * 3
    assert len(fake_fdc.requests) == 1


@pytest.mark.redis_server
@pytest.mark.django_db
def test_foods_looked_up_before_an_outage_are_answered_during_it(redis_server, use_redis, fake_fdc, expected):
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=30)
    fake_fdc.add(body=BANANA)
    assert search_foods(query="banana") == expected

    redis_server.stop()
    assert search_foods(query="banana") == expected
    assert len(fake_fdc.requests) == 1
