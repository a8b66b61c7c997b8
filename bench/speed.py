"""The machine's speed at a moment, so every run says how fast the machine was while it ran: a raw
redis-py GET (µs, median) and a fixed pure-Python CPU loop (ms, median). Taken before the run and
before every repetition; a repetition whose probe is much slower than the run's fastest is flagged
as taken in a slow phase (the machine is shared: other work takes its cores for minutes at a time).

REFERENCE is this machine idle (2 cores, nothing else running), measured with this module: the
report gives every probe as a multiple of it.
"""

from __future__ import annotations

import statistics
import time

import redis

REFERENCE = {"raw_get_us": 55.0, "cpu_loop_ms": 17.0}  # 2026-12-03 13:43 UTC, load average 0.6
SLOW = 1.3  # a probe this many times the run's fastest (either figure) flags a slow phase
_KEY = "healthagent-bench:speed-probe"


def _cpu_loop() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(200_000):
        total += i * i % 7
    return (time.perf_counter() - started) * 1000


def probe(client: redis.Redis, *, gets: int = 400, loops: int = 5) -> dict:
    client.set(_KEY, b"x" * 250)
    samples = []
    for _ in range(gets):
        started = time.perf_counter_ns()
        client.get(_KEY)
        samples.append((time.perf_counter_ns() - started) / 1000)
    client.delete(_KEY)
    return {"raw_get_us": round(statistics.median(samples), 1),
            "cpu_loop_ms": round(statistics.median(_cpu_loop() for _ in range(loops)), 2),
            "at": time.time()}


def flag_slow(probes: list[dict]) -> list[dict]:
    """Each probe with `slow` (True when either figure is SLOW× the run's fastest) and its ratio to REFERENCE."""
    if not probes:
        return []
    best = {k: min(p[k] for p in probes) for k in REFERENCE}
    return [{**p, "slow": any(p[k] > SLOW * best[k] for k in REFERENCE),
             "vs_reference": {k: round(p[k] / REFERENCE[k], 2) for k in REFERENCE}} for p in probes]
