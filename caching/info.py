"""The fleet report behind `cache_stats --json` and the admin dashboard (ARCHITECTURE.md §5.6 schema)."""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from .breaker import OPEN
from .stats import FIELDS, counters_from_hash

# INFO fields an operator needs to judge the cache: is it hitting, is it full, is it evicting.
_INFO_FIELDS = {
    "version": "redis_version",
    "keyspace_hits": "keyspace_hits",
    "keyspace_misses": "keyspace_misses",
    "used_memory": "used_memory",
    "used_memory_human": "used_memory_human",
    "maxmemory": "maxmemory",
    "maxmemory_human": "maxmemory_human",
    "maxmemory_policy": "maxmemory_policy",
    "evicted_keys": "evicted_keys",
    "connected_clients": "connected_clients",
}


def fleet_report(cache: Any) -> dict[str, Any]:
    backend = f"{type(cache).__module__}.{type(cache).__qualname__}"
    if not getattr(cache, "enabled", False):
        return {"enabled": False, "backend": backend, "namespaces": {}, "redis": None}

    found = cache.guarded(lambda client: _read(client, cache.stats_key), default=None)
    redis: dict[str, Any] = {"url": cache.display_url, "embedded": cache.embedded,
                             "process_local": cache.process_local, "reachable": found is not None}
    if found is None:
        breaker = cache.breaker
        reason = breaker.last_error or "no answer"
        redis["error"] = f"cache breaker open ({reason})" if breaker.state == OPEN else reason
        redis["breaker"] = breaker.state
        return {"enabled": True, "backend": backend, "namespaces": {}, "redis": redis}

    raw_counters, db_keys, info = found
    namespaces = {ns: _with_hit_rate(counts) for ns, counts in counters_from_hash(raw_counters).items()}
    redis.update({name: info.get(field) for name, field in _INFO_FIELDS.items()})
    if redis["version"] is None and cache.process_local:
        import fakeredis

        redis["version"] = f"fakeredis {fakeredis.__version__}"
    redis["db_keys"] = db_keys
    redis["breaker"] = cache.breaker.state
    return {"enabled": True, "backend": backend, "namespaces": namespaces, "redis": redis}


def _read(client: Any, stats_key: str) -> tuple[dict, int, dict]:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(stats_key)
    pipe.dbsize()
    raw_counters, db_keys = pipe.execute()
    try:
        info = client.info()
    except ResponseError:  # the embedded fakeredis, or a managed Redis that disables INFO
        info = {}
    return raw_counters, db_keys, info


def _with_hit_rate(counts: dict[str, int]) -> dict[str, Any]:
    reads = counts["hits"] + counts["misses"]
    ordered: dict[str, Any] = {"hits": counts["hits"], "misses": counts["misses"]}
    ordered["hit_rate"] = round(counts["hits"] / reads, 4) if reads else None
    ordered.update({field: counts[field] for field in FIELDS if field not in ordered})
    return ordered
