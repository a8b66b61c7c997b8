"""Each change to the turn's hot path with its before and after, measured side by side in one run
(`make bench` runs this; alone: `DJANGO_SETTINGS_MODULE=healthagent.settings python -m bench.hot_path`).

The "before" is the code as it was, kept here verbatim; batches of both alternate, and the ratio is
taken within each pair of batches (a slow spell of the shared machine lands on both). Python
function calls per call (cProfile's count) are given too: they do not depend on the machine's speed.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable


# --- before: memory/selectors.py's cache-hit check as it was --------------------------------------
def _before_is_user_memory() -> Callable[[object], bool]:
    from memory.selectors import _PREFERENCE_KEY, _PREFERENCE_VALUE, _PROFILE_CHECKS, WEIGHTS_KEPT, _number, _text, is_pending

    def _is_weights(value: object) -> bool:
        return type(value) is list and len(value) <= WEIGHTS_KEPT and all(
            type(row) is list and len(row) == 2 and _text(40)(row[0]) and _number(20, 400, whole=False)(row[1])
            and row[1] is not None for row in value)

    def is_user_memory(value: object) -> bool:
        if value is None:
            return True
        if type(value) is not dict or value.keys() != {"profile", "preferences", "weights", "pending"}:
            return False
        if type(value["profile"]) is not dict or type(value["preferences"]) is not dict:
            return False
        profile, preferences = value["profile"], value["preferences"]
        return (profile.keys() == _PROFILE_CHECKS.keys()
                and all(check(profile[field]) for field, check in _PROFILE_CHECKS.items())
                and all(_PREFERENCE_KEY(k) and _PREFERENCE_VALUE(v) for k, v in preferences.items())
                and _is_weights(value["weights"]) and is_pending(value["pending"]))

    return is_user_memory


def _memory_value(weights: int) -> dict:
    profile = {"name": "User1", "username": "user1", "age": 34, "sex": "female", "height_cm": 168.0, "weight_kg": 64.5,
               "activity": "moderate", "goal": "maintain", "kcal_target": 2100, "tz": "Europe/Berlin",
               "language": "", "app_language": "en"}
    return {"profile": profile, "preferences": {"units": "metric", "diet": "vegetarian"},
            "weights": [[f"2026-11-{1 + i % 28:02d}T08:00:00+00:00", 64.5 - i * 0.1] for i in range(weights)],
            "pending": None}


# --- before: caching/backend/guard.py's _guard as it was (for a call given no client=) -------------
def _before_guard(backend, fn, namespaces, op, default):
    from django_redis.exceptions import ConnectionInterrupted

    from caching.backend import stats
    from caching.backend.breaker import CLOSED
    from caching.backend.guard import REDIS_ERRORS, _unwrapped

    if not backend.breaker.allow():
        for namespace in namespaces:
            stats.record(namespace, stats.BYPASS)
        return default
    try:
        client = backend.client.get_client(write=True)
        if backend.breaker.state is not CLOSED:
            backend.before_probe(client)
        result = fn(client)
    except (*REDIS_ERRORS, ConnectionInterrupted) as error:
        backend.record_failure(_unwrapped(error), namespaces, op)
        return default
    backend.breaker.succeeded()
    return result


# --- before: a hit's GET as caching/consistency/reads.py sent it: guarded(lambda r: r.get(rkey)) -------
def _before_guarded(backend, fn, *, namespace=None, default=None):
    return _before_guard(backend, fn, () if namespace is None else (namespace,), "call", default)


def _before_guarded_get(backend, rkey: str, namespace: str, unavailable: object) -> Callable[[], object]:
    return lambda: _before_guarded(backend, lambda r: r.get(rkey), namespace=namespace, default=unavailable)


# --- before: settings' Redis pool as it was (BlockingConnectionPool, 10 connections, 0.5 s wait) ---------
def _before_pool(url: str):
    import redis

    return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, max_connections=10, timeout=0.5))


# --- before: nutrition/selectors.py's search_foods as it was (its hit path, outside a turn) ------------
def _before_search_foods() -> Callable[..., list[dict]]:
    from django.conf import settings
    from django.core.cache import cache
    from django.utils.translation import gettext as _

    from caching.keys import usda_key
    from healthagent import upstream
    from healthagent.errors import ApplicationError
    from nutrition.selectors import EMPTY_QUERY, MAX_LIMIT, MAX_QUERY_CHARS, _fetch_foods, _ttl, is_food_list, normalise_query

    def search_foods(*, query: str, limit: int = 5) -> list[dict]:
        normalised = normalise_query(query)
        if not normalised:
            raise ApplicationError(EMPTY_QUERY)
        if len(normalised) > MAX_QUERY_CHARS:
            raise ApplicationError(_("too long"))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ApplicationError(_("limit"))
        if settings.NUTRITION_PROVIDER != "usda":
            return _fetch_foods(normalised, limit)
        key = usda_key(normalised, limit)
        if upstream.deferring():
            raise AssertionError("measured outside a turn")
        return cache.get_or_set(key, lambda: _fetch_foods(normalised, limit), timeout=_ttl, valid=is_food_list)

    return search_foods


THREADS, GETS_PER_THREAD = 32, 10  # gunicorn's threads per worker (healthagent/gunicorn_conf.py)


def _burst(client, key: str, failed: list[int]) -> Callable[[], object]:
    """THREADS threads, released together, each sending GETS_PER_THREAD GETs through `client`'s pool;
    a GET the pool refuses ("No connection available": counted by the guard as Redis failing) counts."""
    import threading

    import redis

    def one() -> None:
        start = threading.Barrier(THREADS)

        def work() -> None:
            start.wait()
            for _ in range(GETS_PER_THREAD):
                try:
                    client.get(key)
                except redis.ConnectionError:
                    failed.append(1)

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    return one


def _foods(n: int) -> list[dict]:
    from nutrition.fdc import parse_food

    from .fake_fdc import search_response

    return [food for food in map(parse_food, search_response("banana", n)["foods"]) if food]


def _calls(fn: Callable[[], object], n: int = 200) -> float:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        fn()
    profiler.disable()
    return sum(stat[1] for stat in pstats.Stats(profiler).stats.values()) / n  # type: ignore[attr-defined]


def pair(before: Callable[[], object], after: Callable[[], object], *, pairs: int, batch: int,
         count_calls: bool = True) -> dict:
    times: dict[str, list[float]] = {"before": [], "after": []}
    ratios = []
    for i in range(pairs):
        measured = {}
        for name, fn in (("before", before), ("after", after)) if i % 2 == 0 else (("after", after), ("before", before)):
            started = time.perf_counter_ns()
            for _ in range(batch):
                fn()
            measured[name] = (time.perf_counter_ns() - started) / batch / 1000
            times[name].append(measured[name])
        ratios.append(measured["after"] / measured["before"])
    return {"before_us": statistics.median(times["before"]), "after_us": statistics.median(times["after"]),
            "after_over_before": statistics.median(ratios), "range": [min(ratios), max(ratios)],
            # cProfile sees this thread only: a burst of threads has no count
            "calls_before": _calls(before) if count_calls else None, "calls_after": _calls(after) if count_calls else None}


def main(argv: list[str] | None = None) -> None:
    import django

    django.setup()
    import orjson
    import redis
    from django.conf import settings
    from django.core.cache import cache, caches

    from caching.backend import verdicts
    from caching.keys import USER_MEMORY, usda_key, user_memory_key
    from memory.selectors import is_user_memory
    from nutrition.selectors import is_food_list

    old = _before_is_user_memory()
    results = {}
    for weights in (0, 30):
        value = _memory_value(weights)
        assert old(value) and is_user_memory(value)
        results[f"is_user_memory, {weights} weights"] = pair(lambda v=value: old(v), lambda v=value: is_user_memory(v),
                                                             pairs=41, batch=500)

    # A hit's shape check: every field checked on every hit, beside the verdict on bytes that passed it.
    for weights in (0, 30):
        value = _memory_value(weights)
        raw, rkey = orjson.dumps(value), cache.make_and_validate_key(user_memory_key(weights + 1))
        results[f"user_memory hit, {weights} weights: the shape check (is_user_memory → the verdict on its bytes)"] = pair(
            lambda v=value: is_user_memory(v), lambda v=value, b=raw, k=rkey: verdicts.passes(k, b, v, is_user_memory),
            pairs=41, batch=500)
    foods = _foods(5)
    raw, rkey = orjson.dumps(foods), cache.make_and_validate_key(usda_key("banana", 5))
    assert len(foods) == 5 and is_food_list(foods)
    results["search_foods hit, 5 foods: the shape check (is_food_list → the verdict on its bytes)"] = pair(
        lambda: is_food_list(foods), lambda: verdicts.passes(rkey, raw, foods, is_food_list), pairs=41, batch=500)

    # A search_foods hit (outside a turn, as bench/hitpath.py reads it): the query normalised and hashed
    # on every call beside the key kept per (query, limit). Both read the same cached entry.
    from nutrition.selectors import search_foods

    food_key = usda_key("banana", 5)
    cache.set(food_key, foods, timeout=3600)
    previous_provider = settings.NUTRITION_PROVIDER
    settings.NUTRITION_PROVIDER = "usda"
    before_search = _before_search_foods()
    try:
        assert before_search(query="Banana", limit=5) == search_foods(query="Banana", limit=5) == foods
        results["search_foods hit, 5 foods (the query normalised and hashed per call → kept per query)"] = pair(
            lambda: before_search(query="Banana", limit=5), lambda: search_foods(query="Banana", limit=5),
            pairs=41, batch=200)
    finally:
        settings.NUTRITION_PROVIDER = previous_provider

    # A hit's GET: through the guard's general path (a lambda, django-redis's client lookup) beside read().
    backend = caches["default"]
    rkey = backend.make_and_validate_key(user_memory_key(1))
    backend.guarded(lambda r: r.set(rkey, orjson.dumps(_memory_value(0))))
    unavailable = object()
    before_get = _before_guarded_get(backend, rkey, USER_MEMORY, unavailable)
    assert before_get() == backend.read(rkey, USER_MEMORY, unavailable) is not None
    results["a hit's GET: the guard (guarded(lambda r: r.get) → read())"] = pair(
        before_get, lambda: backend.read(rkey, USER_MEMORY, unavailable), pairs=41, batch=200)
    # Any other guarded call (a turn's MGET, its commit's pipeline): django-redis's client looked up per
    # call beside the one the backend keeps.
    keys = [rkey, rkey + ":token"]
    results["a guarded call, e.g. the turn's MGET (the client looked up per call → kept)"] = pair(
        lambda: _before_guard(backend, lambda r: r.mget(keys), (USER_MEMORY,), "get_many", None),
        lambda: backend.guarded_many(lambda r: r.mget(keys), (USER_MEMORY,), op="get_many", default=None),
        pairs=41, batch=200)

    # The key every read makes: Django's make_and_validate_key (make_key → key_func) beside ours.
    from django.core.cache.backends.base import BaseCache

    key = user_memory_key(42)
    assert BaseCache.make_and_validate_key(backend, key) == backend.make_and_validate_key(key)
    results["a read's key (BaseCache.make_and_validate_key → RedisCache's)"] = pair(
        lambda: BaseCache.make_and_validate_key(backend, key), lambda: backend.make_and_validate_key(key),
        pairs=41, batch=1000)

    # The backend every cached read looks up: caches[...] (asgiref's Local) beside once per thread.
    from caching.consistency.backend import current_backend

    def before_backend() -> object:  # caching/consistency/backend.py's current_backend as it was
        found = caches["default"]
        return found if getattr(found, "enabled", False) else None

    assert before_backend() is current_backend()
    results["the backend a cached read uses (caches[\"default\"] → current_backend())"] = pair(
        before_backend, current_backend, pairs=41, batch=1000)

    # The pool: BlockingConnectionPool(10) beside redis-py's ConnectionPool without a cap (settings),
    # one thread, then a burst of gunicorn's 32 threads (per burst).
    blocking = _before_pool(settings.REDIS_URL)
    plain = redis.Redis(connection_pool=redis.ConnectionPool.from_url(settings.REDIS_URL, max_connections=10_000))
    results["GET through the pool, one thread (BlockingConnectionPool(10) → ConnectionPool)"] = pair(
        lambda: blocking.get(rkey), lambda: plain.get(rkey), pairs=41, batch=200)
    failed: dict[str, list[int]] = {"before": [], "after": []}
    burst = pair(_burst(blocking, rkey, failed["before"]), _burst(plain, rkey, failed["after"]), pairs=21, batch=2,
                 count_calls=False)
    burst["failed_before"], burst["failed_after"] = len(failed["before"]), len(failed["after"])
    results[f"{THREADS} threads × {GETS_PER_THREAD} GETs at once (BlockingConnectionPool(10) → ConnectionPool)"] = burst
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
