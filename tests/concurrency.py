"""Starting test threads together, as concurrent requests would arrive."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from django.core.cache import caches

from caching.backend import singleflight
from caching.backend.singleflight import LocalFlights


def in_threads(n: int, call, *, own_process: bool = False):
    """Run `call()` in n threads started together: (results, errors) in thread order. With
    `own_process`, each thread's cache has in-process flights of its own, as separate worker
    processes would: only the Redis lock can keep them to one computation."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = [None] * n

    def worker(i: int) -> None:
        if own_process:
            caches["default"].flights = LocalFlights()  # this thread's backend instance only
        barrier.wait()
        try:
            results[i] = call()
        except Exception as error:  # collected for the test to assert on
            errors[i] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


class FlightWaiters:
    """Counts the threads waiting for someone else's computation of a key: followers of this process's
    flight (LocalFlights._follow) and callers polling the Redis lock another "process" holds (the
    single flight's sleep between polls). A test's upstream calls `wait_for(n)` before it answers, so
    the callers overlap by construction, not because a sleep was long enough."""

    def __init__(self, monkeypatch) -> None:
        self._changed = threading.Condition()
        self._threads: set[int] = set()
        follow = LocalFlights._follow

        def counted_follow(flights, *args, **kwargs):
            self._arrived()
            return follow(flights, *args, **kwargs)

        def counted_sleep(seconds: float) -> None:
            self._arrived()
            time.sleep(seconds)

        monkeypatch.setattr(LocalFlights, "_follow", counted_follow)
        monkeypatch.setattr(singleflight, "time", SimpleNamespace(monotonic=time.monotonic, sleep=counted_sleep))

    def _arrived(self) -> None:
        with self._changed:
            self._threads.add(threading.get_ident())
            self._changed.notify_all()

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self._threads) >= n, timeout), (
                f"only {len(self._threads)} of {n} callers came to wait: the test did not overlap them")
