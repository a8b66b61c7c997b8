"""The cache as Prometheus sees it (GET /metrics).

Prometheus sums a counter over the targets it scrapes, so a counter must count what its target did:

- `healthagent_cache_{hits,misses,…}_total{namespace}`: this process's own cache events since it
  started (per-process prometheus_client counters, brought up to date from caching.backend.stats at
  each scrape and after each stats flush). `sum()` over the targets is the fleet's figure; with
  several gunicorn workers per target, PROMETHEUS_MULTIPROC_DIR adds the workers up as it does for
  the service's other counters.
- `healthagent_cache_fleet_{hits,misses,…}{namespace}`: the fleet's totals from the shared stats hash
  (the numbers `cache_stats --json` prints), the same whichever worker answers: gauges, to be read
  with max() (or from one target), never summed. So are the outbox size and the Redis INFO figures,
  which describe one shared server or database.

Alongside: whether Redis answered the scrape, and this process's circuit breaker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from caching.backend import stats
from caching.backend.breaker import CLOSED, HALF_OPEN, OPEN, breaker_state
from caching.ops.report import outbox_size, read_fleet_stats

# INFO field → (metric, help): the Redis server's own figures, one server for every target.
_REDIS_FIGURES = {
    "used_memory": ("healthagent_redis_used_memory_bytes", "Redis used_memory"),
    "maxmemory": ("healthagent_redis_maxmemory_bytes", "Redis maxmemory (0: no limit)"),
    "evicted_keys": ("healthagent_redis_evicted_keys", "Redis evicted_keys (the server's counter: not to be summed over targets)"),
    "keyspace_hits": ("healthagent_redis_keyspace_hits", "Redis keyspace_hits (the server's counter: not to be summed over targets)"),
    "keyspace_misses": ("healthagent_redis_keyspace_misses", "Redis keyspace_misses (the server's counter: not to be summed over targets)"),
    "db_keys": ("healthagent_redis_keys", "Keys in the cache's Redis database"),
}

# Registered in prometheus_client's default registry (and its multiprocess files when
# PROMETHEUS_MULTIPROC_DIR is set), beside the service's other per-process figures.
PROCESS_COUNTERS = {
    field: Counter(f"healthagent_cache_{field}", f"Cache {field} per namespace in this process (sum over targets)",
                   ["namespace"])
    for field in stats.FIELDS
}
_exported: dict[str, dict[str, int]] = {}  # what the counters hold already, from stats.local_counts()
_sync_lock = threading.Lock()


def sync_process_counters() -> None:
    """Add to the per-process counters what this process counted since the last call. A forked
    worker inherits its parent's counts and this snapshot alike, so it adds only its own."""
    with _sync_lock:
        for namespace, counts in stats.local_counts().items():
            seen = _exported.setdefault(namespace, dict.fromkeys(stats.FIELDS, 0))
            for field, value in counts.items():
                if value > seen[field]:
                    PROCESS_COUNTERS[field].labels(namespace).inc(value - seen[field])
                    seen[field] = value


stats.AFTER_FLUSH.append(sync_process_counters)


class FleetCacheCollector(Collector):
    """The fleet-wide figures: gauges, the same from every worker."""

    def describe(self) -> Iterator[Any]:
        # Nothing known before a scrape; without this method the registry would call collect() when
        # the collector is registered (at import of the URLconf), reaching Redis — and starting the
        # embedded server — for commands that need no cache (`manage.py check`).
        return iter(())

    def collect(self) -> Iterator[Any]:
        report = read_fleet_stats()
        redis = report["redis"] or {}
        yield _gauge("healthagent_cache_enabled", "1 when caching is on (ENABLE_CACHE)", int(report["enabled"]))
        yield _gauge("healthagent_cache_redis_up", "1 when Redis answered this scrape", int(bool(redis.get("reachable"))))

        for field in stats.FIELDS:
            family = GaugeMetricFamily(
                f"healthagent_cache_fleet_{field}",
                f"Cache {field} per namespace, the whole fleet's (cache_stats): the same from every target, "
                "use max(), not sum()",
                labels=["namespace"],
            )
            for namespace, counts in report["namespaces"].items():
                if field in counts:  # the model's calls and tokens: the agent namespace's only
                    family.add_metric([namespace], counts[field])
            yield family

        state = breaker_state()
        breaker = GaugeMetricFamily("healthagent_cache_breaker_state",
                                    "This process's Redis circuit breaker: 1 for its current state", labels=["state"])
        for each in (CLOSED, HALF_OPEN, OPEN):
            breaker.add_metric([each], int(state == each))
        yield breaker

        outbox = outbox_size()
        if outbox is not None:
            yield _gauge("healthagent_cache_outbox_size",
                         "Invalidations recorded while Redis was unreachable, waiting to be replayed (fleet-wide)",
                         outbox)

        for field, (name, help_text) in _REDIS_FIGURES.items():
            value = redis.get(field)
            if isinstance(value, int):
                yield _gauge(name, help_text, value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)
