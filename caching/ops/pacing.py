"""A fleet-wide send rate: how many outgoing Telegram messages every worker together may send in a
second (Telegram's limit is about 30 a second across all chats).

A fixed one-second window counted in Redis (ADD then INCR of one short-lived key per second): every
worker process sharing the Redis draws from the same count. When Redis does not answer (breaker
open, ENABLE_CACHE=false) each process paces itself at the whole rate on its own clock — the one
case where several workers together may exceed it, in which Telegram answers 429 and the workers
honour its retry_after. That choice is deliberate: a cache outage delays nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.core.cache import cache

from caching.keys import send_pace_key

_local = threading.local()


def send_slot(*, per_second: int, clock: Callable[[], float] = time.time) -> float:
    """0.0 when one more message may go now (and counts it), else the seconds until the next window."""
    now = clock()
    window = int(now)
    key = send_pace_key(window)
    try:
        cache.add(key, 0, timeout=3)
        taken = int(cache.incr(key))
    except ValueError:  # Redis unreachable (a miss to incr): this process's own window
        taken = _local_take(window)
    if taken <= per_second:
        return 0.0
    return max(window + 1 - now, 0.001)


def _local_take(window: int) -> int:
    if getattr(_local, "window", None) != window:
        _local.window, _local.taken = window, 0
    _local.taken += 1
    return int(_local.taken)
