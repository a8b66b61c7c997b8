"""Cache statistics per namespace, summed over every process in Redis (ARCHITECTURE.md §5.6).

The hot path only increments a list item in this process. A daemon thread (started by the first
count, ended by `stop_flusher()`) sends the growth since
the last flush as one MULTI/EXEC of HINCRBY into one hash (`<KEY_PREFIX>:stats`, fields
`<namespace>:<counter>`) at most every STATS_FLUSH_INTERVAL seconds, and once more at exit. A flush
that fails (Redis down, breaker open) sends nothing and keeps the counts for the next one;
the unsent counts are a handful of integers per namespace, so keeping them is bounded by itself.

`capture()` additionally records this thread's events, for `manage.py chat --trace`.

The same hash keeps two things for the dashboard, in fields that are not `<namespace>:<counter>`:
`_meta:since` (when the counters started: the first flush after a reset, so rates per minute can be
told), and the fleet's hits and misses per minute for the last hour (`_m:<minute>:hits|misses`, the
chart of hit rate over time). One hash, so a flush stays one MULTI/EXEC on one key (and one Redis
Cluster slot); minutes older than HISTORY_MINUTES are dropped by later flushes and by a reset.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from caching.keys import NAMESPACES, OTHER

logger = logging.getLogger(__name__)

HIT, MISS, SET, DELETE, ERROR, BYPASS, MODEL_CALL, TOKENS_IN, TOKENS_OUT = range(9)
EVENTS = ("hit", "miss", "set", "delete", "error", "bypass", "model_call", "tokens_in", "tokens_out")  # capture()
FIELDS = ("hits", "misses", "sets", "deletes", "errors", "bypassed",  # what Redis and reports hold
          "model_calls", "tokens_in", "tokens_out")  # the agent's: what its misses cost (0 elsewhere)
AGENT_FIELDS = FIELDS[6:]

SINCE_FIELD = "_meta:since"
HISTORY_MINUTES = 60
_MINUTE_PREFIX = "_m:"

_counts: dict[str, list[int]] = {ns: [0] * len(FIELDS) for ns in (*NAMESPACES, OTHER)}
_flushed: dict[str, list[int]] = {ns: [0] * len(FIELDS) for ns in _counts}
_flush_lock = threading.Lock()

_local = threading.local()
_capturing = 0  # threads inside capture(): lets record() skip the thread-local lookup otherwise
_capture_lock = threading.Lock()


def record(namespace: str, event: int, n: int = 1) -> None:
    """Count `n` events. `namespace` is one of NAMESPACES or OTHER (see keys.namespace_of)."""
    # A plain increment: a rare lost update between threads is an acceptable price for a hit path
    # without a lock.
    _counts[namespace][event] += n
    if _flusher_idle:
        _start_flusher()
    if _capturing and event < TOKENS_IN:  # token counts are amounts, not events to list
        events = getattr(_local, "events", None)
        if events is not None:
            events.extend([(namespace, EVENTS[event])] * n)


@contextmanager
def capture() -> Iterator[list[tuple[str, str]]]:
    """Collect (namespace, event) for cache calls made by this thread while the block runs."""
    global _capturing
    events: list[tuple[str, str]] = []
    outer = getattr(_local, "events", None)
    _local.events = events
    with _capture_lock:
        _capturing += 1
    try:
        yield events
    finally:
        _local.events = outer
        with _capture_lock:
            _capturing -= 1


def local_counts() -> dict[str, dict[str, int]]:
    """This process's counts since start (flushed or not)."""
    return {ns: dict(zip(FIELDS, row)) for ns, row in _counts.items()}


def flush() -> bool:
    """Send this process's counts not yet in Redis. False (counts kept) if Redis cannot take them."""
    with _flush_lock:
        unsent = [
            (ns, i, row[i] - _flushed[ns][i]) for ns, row in _counts.items() for i in range(len(FIELDS))
        ]
        unsent = [item for item in unsent if item[2]]
        if not unsent:
            return True
        backend = _backend()
        if backend is None:
            return False

        now = time.time()
        minute = int(now // 60)
        reads = {field: sum(delta for _, i, delta in unsent if i == event) for event, field in ((HIT, "hits"), (MISS, "misses"))}

        def send(client: Any) -> list[Any]:
            # MULTI/EXEC does not roll back: one HINCRBY refused (a field that is not an integer)
            # leaves the others applied. So each counter's result is checked and only what landed
            # is marked sent, or the next flush would count the rest twice.
            pipe = client.pipeline(transaction=True)
            for ns, i, delta in unsent:
                pipe.hincrby(backend.stats_key, f"{ns}:{FIELDS[i]}", delta)
            pipe.hsetnx(backend.stats_key, SINCE_FIELD, int(now))
            for field, count in reads.items():
                if count:
                    pipe.hincrby(backend.stats_key, f"{_MINUTE_PREFIX}{minute}:{field}", count)
            expired = minute - HISTORY_MINUTES - 1
            pipe.hdel(backend.stats_key, f"{_MINUTE_PREFIX}{expired}:hits", f"{_MINUTE_PREFIX}{expired}:misses")
            results = pipe.execute(raise_on_error=False)[: len(unsent)]
            refused = [f"{ns}:{FIELDS[i]}" for (ns, i, _), result in zip(unsent, results)
                       if isinstance(result, Exception)]
            if refused:
                logger.warning("cache stats: fields %s of %s are not integers; cleared, their counts sent again",
                               ", ".join(refused), backend.stats_key)
                client.hdel(backend.stats_key, *refused)
            return results

        results = backend.guarded(send, default=None)
        if results is None:
            return False
        for (ns, i, delta), result in zip(unsent, results):
            if not isinstance(result, Exception):
                _flushed[ns][i] += delta
        return not any(isinstance(result, Exception) for result in results)


def reset() -> bool:
    """Zero the fleet's counters in Redis (never the cached data). False if Redis cannot be reached."""
    with _flush_lock:
        backend = _backend()
        def zero(client: Any) -> bool:
            pipe = client.pipeline(transaction=True)
            pipe.delete(backend.stats_key)
            pipe.hset(backend.stats_key, SINCE_FIELD, int(time.time()))
            pipe.execute()
            return True

        if backend is None or not backend.guarded(zero, default=False):
            return False
        # What this process counted so far is part of what was just reset.
        for ns, row in _counts.items():
            _flushed[ns][:] = row
        return True


def since_from_hash(raw: dict[bytes, bytes]) -> int | None:
    """When the counters started (Unix time), or None before the first flush."""
    value = raw.get(SINCE_FIELD.encode())
    return _counter(value) if value is not None else None  # a planted non-integer reads as unknown


def history_from_hash(raw: dict[bytes, bytes], *, now: float | None = None) -> list[dict[str, int]]:
    """The fleet's hits and misses per minute over the last HISTORY_MINUTES, oldest first; minutes
    without reads are present with zeros. Each item: {"minute": <Unix minute>, "hits", "misses"}."""
    current = int((time.time() if now is None else now) // 60)
    first = current - HISTORY_MINUTES + 1
    minutes = {m: {"minute": m, "hits": 0, "misses": 0} for m in range(first, current + 1)}
    prefix = _MINUTE_PREFIX.encode()
    for raw_field, raw_value in raw.items():
        if raw_field.startswith(prefix):
            minute, _, field = raw_field[len(prefix):].decode().partition(":")
            count = _counter(raw_value)  # a planted non-integer is skipped
            if minute.isdigit() and int(minute) in minutes and field in ("hits", "misses") and count is not None:
                minutes[int(minute)][field] = count
    return list(minutes.values())


def counters_from_hash(raw: dict[bytes, bytes]) -> dict[str, dict[str, int]]:
    """{namespace: {field: count}} from the stats hash; our namespaces are always present.

    A field that is not a counter we write (not an integer, not ASCII; anyone with write access to
    Redis can put one there) is skipped, logged and cleared, so the next flush starts it afresh."""
    namespaces: dict[str, dict[str, int]] = {ns: dict.fromkeys(FIELDS, 0) for ns in NAMESPACES}
    bad: list[bytes] = []
    for raw_field, raw_value in raw.items():
        if raw_field.startswith(b"_"):  # _meta:since and the per-minute history: not a namespace
            continue
        ns, _, field = raw_field.decode("ascii", "replace").rpartition(":")
        if field not in FIELDS:
            continue
        count = _counter(raw_value)
        if count is None:
            bad.append(raw_field)
            continue
        namespaces.setdefault(ns, dict.fromkeys(FIELDS, 0))[field] = count
    if bad:
        _clear_fields(bad)
    return namespaces


def _counter(raw: bytes) -> int | None:
    # Redis's own integers: an optional minus and at most 19 ASCII digits (int() would take "²").
    digits = raw[1:] if raw[:1] == b"-" else raw
    if not 1 <= len(digits) <= 19 or not digits.isdigit():  # bytes.isdigit() is ASCII only
        return None
    return int(raw)


def _clear_fields(fields: list[bytes]) -> None:
    logger.warning("cache stats: skipped and cleared fields that are not integers: %s",
                   ", ".join(field.decode("ascii", "replace") for field in fields))
    backend = _backend()
    if backend is not None:
        backend.guarded(lambda client: client.hdel(backend.stats_key, *fields), default=None)


def _backend() -> Any:
    from django.core.cache import caches

    cache = caches["default"]
    return cache if getattr(cache, "enabled", False) and hasattr(cache, "guarded") else None


# --- the flusher thread ---------------------------------------------------------------------------
# Started by the first count this process records (not by building a backend: a process that never
# uses the cache runs no thread), at most one per process; stop_flusher() ends it for good.
_flusher_interval = 1.0
_flusher_idle = True  # True until the thread is started (or flushing is switched off)
_flusher: threading.Thread | None = None
_flusher_stop = threading.Event()
_flusher_lock = threading.Lock()  # not _flush_lock: a flush records counts (errors) itself


def configure_flusher(interval: float) -> None:
    """Set the flush interval (cache OPTIONS STATS_FLUSH_INTERVAL); 0 or less: no thread at all."""
    global _flusher_interval, _flusher_idle
    _flusher_interval = interval
    if interval <= 0:
        _flusher_idle = False


def _start_flusher() -> None:
    global _flusher_idle, _flusher
    with _flusher_lock:
        if not _flusher_idle:
            return
        _flusher_idle = False
        _flusher = threading.Thread(target=_run_flusher, args=(_flusher_stop,), name="cache-stats-flusher",
                                    daemon=True)
        _flusher.start()


def stop_flusher() -> None:
    """Stop the flusher thread (and do not start one again in this process); counts stay unsent
    for flush(). Waits for a flush in progress, so a caller can rely on nothing being sent after."""
    global _flusher_idle
    with _flusher_lock:
        _flusher_idle = False
        thread = _flusher
    _flusher_stop.set()
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def flusher_running() -> bool:
    return _flusher is not None and _flusher.is_alive()


# Called after each of the flusher thread's flushes (caching.ops.metrics keeps /metrics' per-process
# counters current with it).
AFTER_FLUSH: list[Callable[[], None]] = []


def _run_flusher(stop: threading.Event) -> None:
    while not stop.wait(_flusher_interval):
        try:
            flush()
            for hook in AFTER_FLUSH:
                hook()
        except Exception:  # a bug must not kill the thread silently, nor spam the log every second
            logger.exception("cache stats flush failed; counts are kept for the next flush")
            stop.wait(60)


def _after_fork_in_child() -> None:
    # A forked worker starts with its parent's counts, which the parent flushes itself; and without
    # the parent's flusher thread, which does not survive fork(): its first count starts its own.
    global _flush_lock, _capture_lock, _flusher_lock, _flusher, _flusher_idle, _flusher_stop
    # Locks held by another thread at fork() time would stay held forever in the child.
    _flush_lock, _capture_lock, _flusher_lock = threading.Lock(), threading.Lock(), threading.Lock()
    for ns, row in _counts.items():
        _flushed[ns][:] = row
    if _flusher is not None and not _flusher_stop.is_set():
        _flusher, _flusher_idle, _flusher_stop = None, True, threading.Event()


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # pragma: no cover - interpreter shutdown: nothing left to report to
        logger.debug("cache stats flush at exit failed", exc_info=True)


atexit.register(_flush_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
