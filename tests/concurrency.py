"""Starting test threads together, as concurrent requests would arrive."""

from __future__ import annotations

import threading

from django.core.cache import caches

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
