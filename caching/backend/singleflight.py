"""Single flight for `cache.get_or_set` (ARCHITECTURE.md §5.3): concurrent misses on a key compute it once.

In this process, the first thread to miss a key leads a flight; the others wait on an Event and get
the leader's outcome — its value (each its own copy, as from Redis), or its exception: a failing
upstream is asked once per flight, not once per waiting thread. An outcome lives only as long as its
flight, so an error is never cached: the next call after it starts a new flight.

Across processes, a leader takes `<key>:lock` in Redis (SET NX PX, a random token) before it
computes. The holder stores the value (`add`), then deletes the lock if it still holds its token
(compare-and-delete, scripts.RELEASE_LOCK). A leader that finds the lock taken polls with one
pipelined round trip, SET lock NX PX + GET value, every 5 ms doubling to 50 ms:
- the value is there: it is the answer (the holder stores before it releases);
- the SET took the lock and there is still no value: the holder failed (its error was not cached) or
  crashed and its lock expired: this leader computes instead.
SET before GET is what makes the poll race-free: taking the lock means the previous holder had
released it, which it does only after storing.

Why polling, not BLPOP or pub/sub: a blocked BLPOP holds a pool connection for the whole wait (a
capped pool — REDIS_POOL_MAX_SIZE, a Cluster's or Sentinel's 10 — makes a caller wait 0.5 s for one
before counting Redis as failed, so a burst of waiters would trip the breaker for everyone; an
uncapped one opens a connection per waiter) and needs a socket timeout above the 0.25 s ours use; pub/sub
needs a connection of its own. Polling costs one small round trip per ≤ 50 ms per waiting *process*
(its threads wait in-process), cannot miss a wake-up, and notices an expired lock by itself.

Waits are bounded, never a hang. LOCK_TIMEOUT (cache OPTIONS, seconds) is the lock's TTL, so a
crashed holder blocks its key that long at most. A leader polls at most 2 × LOCK_TIMEOUT (a crashed
holder's lock, then a successor's full turn), then computes without the lock; a thread waits for
its own process's leader at most 3 × LOCK_TIMEOUT, then leads itself. A holder slower than
LOCK_TIMEOUT loses its lock: the worst case is a second upstream call, never a wrong answer.

When Redis cannot answer there is no lock: the in-process flight alone keeps N threads to one call,
and for fallback.LOCAL_NAMESPACES the process's local copy serves repeats (caching/backend/local_copy.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from caching.backend import serializer
from caching.backend import stats
from caching.backend.local_copy import LOCAL_NAMESPACES, LocalCopy
from caching.backend.scripts import RELEASE_LOCK

logger = logging.getLogger(__name__)

FIRST_POLL = 0.005  # seconds; doubled after each poll up to MAX_POLL
MAX_POLL = 0.05

# What taking the lock came to.
HELD = "held"  # ours: compute, store, release
FOUND = "found"  # the value landed meanwhile: no computation
NO_LOCK = "no lock"  # Redis answers but gave no lock (refused the SET, or the wait ran out): compute
UNAVAILABLE = "unavailable"  # Redis is away: compute, the local copy may answer first
_REFUSED = object()


def lock_key(rkey: str) -> str:
    """The lock beside a value key (Redis key, prefix included), in the value's Redis Cluster hash
    slot: a key with braces keeps its tag; one without (usda:...) becomes the tag, since a key with
    no braces hashes as a whole — so SET lock + GET value is one node, one round trip."""
    return f"{rkey}:lock" if _has_tag(rkey) else f"{{{rkey}}}:lock"


def _has_tag(rkey: str) -> bool:
    # Redis Cluster's rule: the first "{" followed, later, by a "}" with something in between.
    start = rkey.find("{")
    return start != -1 and rkey.find("}", start + 2) != -1


def fill(cache: Any, *, key: Any, rkey: str, namespace: str, compute: Callable[[], Any], timeout: Any,
         version: int | None, reached: bool) -> Any:
    """The miss path of get_or_set for a callable default. `reached`: Redis answered the miss (as
    opposed to being unavailable, when the local copy is asked first)."""
    local = cache.local_copy if namespace in LOCAL_NAMESPACES else None
    if local is not None and not reached:
        raw = local.get(rkey)
        # Counted as a lookup answered (or not) by a cache; the failed read is counted already.
        stats.record(namespace, stats.MISS if raw is None else stats.HIT)
        if raw is not None:
            logger.debug("cache HIT (local copy, Redis unavailable) %s", key)
            return serializer.loads(raw)
    leader = _Leader(cache, key, rkey, namespace, compute, timeout, version, local)
    return cache.flights.run(rkey, leader.lead, wait=3 * cache.lock_timeout)


class _Leader:
    def __init__(self, cache: Any, key: Any, rkey: str, namespace: str, compute: Callable[[], Any],
                 timeout: Any, version: int | None, local: LocalCopy | None) -> None:
        self.cache, self.key, self.rkey, self.namespace = cache, key, rkey, namespace
        self.compute, self.timeout, self.version, self.local = compute, timeout, version, local

    def lead(self) -> tuple[Any, bytes]:
        """(value, its serialised bytes): found in Redis, in the local copy, or computed and stored."""
        lock, token = lock_key(self.rkey), secrets.token_hex(16)
        state, value, raw = self._lock_or_value(lock, token)
        if state is FOUND and raw is not None:
            return value, raw
        if state is UNAVAILABLE and self.local is not None:
            # A flight that landed after this call's first look but before this flight began.
            raw = self.local.get(self.rkey)
            if raw is not None:
                return serializer.loads(raw), raw
        try:
            value = self.compute()  # an error propagates: nothing is stored, the lock is released
            seconds = self.timeout(value) if callable(self.timeout) else self.timeout
            raw = serializer.dumps(value)
            if self.local is not None:
                self.local.set(self.rkey, raw, self.cache.expiry_ms(seconds))
            stored = self.cache.add(self.key, value, timeout=seconds, version=self.version)
        finally:
            if state is HELD:
                self._release(lock, token)
        if not stored and state is not UNAVAILABLE:
            # Django's get_or_set: a value set by someone else between our miss and our add wins.
            rkey = self.rkey
            current = self.cache.guarded_many(lambda r: r.get(rkey), (self.namespace,), op="get", default=None, write=False)
            if current is not None:
                try:
                    return serializer.loads(current), current
                except serializer.RefusedValue:
                    pass
        return value, raw

    def _lock_or_value(self, lock: str, token: str) -> tuple[str, Any, bytes | None]:
        cache, rkey, namespace = self.cache, self.rkey, self.namespace
        lock_ms = max(1, int(cache.lock_timeout * 1000))

        def attempt(r: Any) -> tuple[Any, Any]:
            pipe = r.pipeline(transaction=False)
            pipe.set(lock, token, nx=True, px=lock_ms)
            pipe.get(rkey)
            taken, found = pipe.execute(raise_on_error=False)
            # Redis answered with an error for one command (OOM, WRONGTYPE): counted and logged as
            # the guard does; there is no lock to wait for, or no value to use.
            if isinstance(taken, Exception):
                cache.record_failure(taken, (namespace,), "add")
                taken = _REFUSED
            if isinstance(found, Exception):
                cache.record_failure(found, (namespace,), "get")
                found = None
            return taken, found

        deadline = time.monotonic() + 2 * cache.lock_timeout
        delay = FIRST_POLL
        while True:
            answer = cache.guarded(attempt, namespace=namespace, default=None)
            if answer is None:
                return UNAVAILABLE, None, None
            taken, raw = answer
            if raw is not None:
                try:
                    value = serializer.loads(raw)
                except serializer.RefusedValue as refusal:
                    cache.refuse(rkey, namespace, refusal)
                else:
                    if taken is True:
                        self._release(lock, token)
                    return FOUND, value, raw
            if taken is True:
                return HELD, None, None
            if taken is _REFUSED:
                return NO_LOCK, None, None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning(
                    "cache: waited %.1fs for another worker's computation of %s; computing it without the lock",
                    2 * cache.lock_timeout, self.key,
                )
                return NO_LOCK, None, None
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_POLL)

    def _release(self, lock: str, token: str) -> None:
        released = self.cache.guarded(lambda r: RELEASE_LOCK(r, [lock], [token]), namespace=self.namespace)
        if released == 0:
            logger.info(
                "cache: computing %s took longer than LOCK_TIMEOUT (%gs): its lock had expired, another "
                "worker may have computed it too", self.key, self.cache.lock_timeout,
            )


# --- in this process --------------------------------------------------------------------------------
class _Flight:
    __slots__ = ("done", "raw", "error", "followers")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.raw: bytes | None = None
        self.error: Exception | None = None
        self.followers = 0


class LocalFlights:
    """At most one computation per key at a time in this process; the others share its outcome."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    def run(self, key: str, lead: Callable[[], tuple[Any, bytes]], *, wait: float) -> Any:
        with self._lock:
            found = self._flights.get(key)
            if found is None:
                flight = self._flights[key] = _Flight()
            else:
                found.followers += 1
        if found is not None:
            return self._follow(key, found, lead, wait)
        try:
            value, raw = lead()
        except Exception as error:
            self._land(key, flight, None, error)
            raise
        except BaseException:  # interrupted: no outcome to share, the followers lead themselves
            self._land(key, flight, None, None)
            raise
        self._land(key, flight, raw, None)
        return value

    def _follow(self, key: str, flight: _Flight, lead: Callable[[], tuple[Any, bytes]], wait: float) -> Any:
        if not flight.done.wait(wait):
            logger.warning("cache: waited %.1fs for this process's computation of %s; computing it again", wait, key)
            return lead()[0]
        if flight.error is not None:
            raise flight.error
        if flight.raw is None:
            return lead()[0]
        return serializer.loads(flight.raw)

    def _land(self, key: str, flight: _Flight, raw: bytes | None, error: Exception | None) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.raw, flight.error = raw, error
        flight.done.set()

    def _after_fork(self) -> None:
        # The leaders of these flights are threads of the parent: they never land in this process.
        self._lock = threading.Lock()
        self._flights = {}


_groups: dict[str, LocalFlights] = {}
_registry_lock = threading.Lock()


def flights_for(location: str) -> LocalFlights:
    """The process-wide flights for one Redis location (Django builds a backend per thread)."""
    with _registry_lock:
        group = _groups.get(location)
        if group is None:
            group = _groups[location] = LocalFlights()
        return group


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for group in _groups.values():
        group._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
