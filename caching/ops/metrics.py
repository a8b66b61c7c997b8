"""The cache as Prometheus sees it (GET /metrics), read at scrape time from what the fleet shares.

Counters per namespace come from the same report as `cache_stats --json` (read_fleet_stats:
this process's counts are flushed first, then the one stats hash is read), so every worker answers
a scrape with the fleet's numbers and Prometheus can scrape any of them. Alongside: whether Redis
answered, this process's circuit breaker, the outbox of invalidations waiting to be replayed (a
database count, fleet-wide too) and the Redis INFO figures an operator alerts on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from caching.backend import stats
from caching.ops.report import read_fleet_stats
from caching.backend.breaker import CLOSED, HALF_OPEN, OPEN, breaker_state
from caching.ops.report import outbox_size

# INFO field → (metric, help, counter?)
_REDIS_FIGURES = {
    "used_memory": ("healthagent_redis_used_memory_bytes", "Redis used_memory", False),
    "maxmemory": ("healthagent_redis_maxmemory_bytes", "Redis maxmemory (0: no limit)", False),
    "evicted_keys": ("healthagent_redis_evicted_keys", "Redis evicted_keys", True),
    "keyspace_hits": ("healthagent_redis_keyspace_hits", "Redis keyspace_hits", True),
    "keyspace_misses": ("healthagent_redis_keyspace_misses", "Redis keyspace_misses", True),
    "db_keys": ("healthagent_redis_keys", "Keys in the cache's Redis database", False),
}


class FleetCacheCollector(Collector):
    def collect(self) -> Iterator[Any]:
        report = read_fleet_stats()
        redis = report["redis"] or {}
        yield _gauge("healthagent_cache_enabled", "1 when caching is on (ENABLE_CACHE)", int(report["enabled"]))
        yield _gauge("healthagent_cache_redis_up", "1 when Redis answered this scrape", int(bool(redis.get("reachable"))))

        for field in stats.FIELDS:
            family = CounterMetricFamily(
                f"healthagent_cache_{field}", f"Cache {field} per namespace, summed over every process",
                labels=["namespace"],
            )
            for namespace, counts in report["namespaces"].items():
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
                         "Invalidations recorded while Redis was unreachable, waiting to be replayed", outbox)

        for field, (name, help_text, is_counter) in _REDIS_FIGURES.items():
            value = redis.get(field)
            if isinstance(value, int):
                yield CounterMetricFamily(name, help_text, value=value) if is_counter else _gauge(name, help_text, value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)
