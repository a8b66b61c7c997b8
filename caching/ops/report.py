"""The fleet report behind `cache_stats --json` and the admin dashboard (ARCHITECTURE.md §5.6 schema)."""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from caching.backend import stats
from caching.backend.breaker import OPEN
from caching.keys import AGENT, namespace_of
from caching.backend.stats import AGENT_FIELDS, FIELDS, counters_from_hash, history_from_hash, since_from_hash
from caching.servers.cluster import is_cluster, node_clients

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


def read_fleet_stats() -> dict[str, Any]:
    """The ARCHITECTURE.md §5.6 report: {"enabled", "backend", "namespaces": {...}, "redis": {...}}."""
    cache = caches["default"]
    if getattr(cache, "enabled", False):
        stats.flush()  # include this process's own counts
    return fleet_report(cache)


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
    namespaces = {ns: _with_hit_rate(counts, agent=ns == AGENT) for ns, counts in counters_from_hash(raw_counters).items()}
    redis.update({name: info.get(field) for name, field in _INFO_FIELDS.items()})
    if redis["version"] is None and cache.process_local:
        import fakeredis

        redis["version"] = f"fakeredis {fakeredis.__version__}"
    redis["db_keys"] = db_keys
    if "nodes" in info:  # a Redis Cluster: the figures above are sums, these are its nodes
        redis["nodes"] = info["nodes"]
    redis["breaker"] = cache.breaker.state
    # When the counters started (Unix time; None before the first flush), and the fleet's hits and
    # misses per minute over the last hour: the dashboard's rates and chart.
    redis["counters_since"] = since_from_hash(raw_counters)
    redis["history"] = history_from_hash(raw_counters)
    return {"enabled": True, "backend": backend, "namespaces": namespaces, "redis": redis}


def _read(client: Any, stats_key: str) -> tuple[dict, int, dict]:
    raw_counters = client.hgetall(stats_key)
    if is_cluster(client):
        return (raw_counters, *_cluster_info(client))
    pipe = client.pipeline(transaction=False)
    pipe.dbsize()
    (db_keys,) = pipe.execute()
    try:
        info = client.info()
    except ResponseError:  # the embedded fakeredis, or a managed Redis that disables INFO
        info = {}
    return raw_counters, db_keys, info


# Summed over every node: what clients did to the cluster. Over the primaries only: what the data
# set holds and may hold (a replica keeps a copy of its primary's keys and memory).
_SUMMED_OVER_NODES = ("keyspace_hits", "keyspace_misses", "evicted_keys", "connected_clients")
_SUMMED_OVER_PRIMARIES = ("used_memory", "maxmemory")


def _cluster_info(client: Any) -> tuple[int, dict]:
    """(keys on the primaries, INFO summed over the nodes with one entry per node in "nodes")."""
    rows = []
    for name, role, node in node_clients(client):
        row: dict[str, Any] = {"node": name, "role": role}
        try:
            info, row["db_keys"] = node.info(), node.dbsize()
        except (RedisConnectionError, RedisTimeoutError) as error:
            # One node away (a replica being replaced, a primary failing over): the report names it and
            # sums the others, rather than the whole report failing and counting against the breaker.
            info, row["db_keys"], row["error"] = {}, None, f"unreachable ({type(error).__name__})"
        row.update({key: info.get(field) for key, field in _INFO_FIELDS.items()})
        rows.append(row)
    primaries = [row for row in rows if row["role"] == "primary"]
    total: dict[str, Any] = {field: sum(row[field] or 0 for row in rows) for field in _SUMMED_OVER_NODES}
    total.update({field: sum(row[field] or 0 for row in primaries) for field in _SUMMED_OVER_PRIMARIES})
    total["used_memory_human"] = _human(total["used_memory"])
    answering = [row for row in primaries if "error" not in row]
    total["maxmemory_human"] = _human(total["maxmemory"]) if all(row["maxmemory"] for row in answering) else "0B"
    if not all(row["maxmemory"] for row in answering):
        total["maxmemory"] = 0  # one primary without a limit: the cluster has none
    for field in ("redis_version", "maxmemory_policy"):
        values = {row[_INFO_KEY[field]] for row in rows if "error" not in row}
        total[field] = values.pop() if len(values) == 1 else "mixed: " + ", ".join(sorted(map(str, values)))
    total["nodes"] = rows
    return sum(row["db_keys"] or 0 for row in primaries), total


_INFO_KEY = {field: key for key, field in _INFO_FIELDS.items()}


def _human(size: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.2f}{unit}" if unit != "B" else f"{size}B"
        size /= 1024
    return f"{size}"


def _with_hit_rate(counts: dict[str, int], *, agent: bool = False) -> dict[str, Any]:
    """A namespace's counters with its hit rate; the model's calls and tokens for `agent` only."""
    reads = counts["hits"] + counts["misses"]
    ordered: dict[str, Any] = {"hits": counts["hits"], "misses": counts["misses"]}
    ordered["hit_rate"] = round(counts["hits"] / reads, 4) if reads else None
    ordered.update({field: counts.get(field, 0) for field in FIELDS
                    if field not in ordered and (agent or field not in AGENT_FIELDS)})
    return ordered


# --- a sample of the keyspace, for the dashboard -------------------------------------------------
SAMPLE_SIZE = 200
_HELPERS = ("token", "lock")  # keys beside a value: its version token, a single-flight lock


def sample_keyspace(cache: Any, *, size: int = SAMPLE_SIZE) -> dict[str, Any] | None:
    """Keys, memory and TTL per namespace, estimated from one SCAN step (never a full SCAN: this runs
    on a page load) plus MEMORY USAGE and PTTL of the keys it returned, in one pipelined round trip.

    {"sampled": n, "db_keys": N, "kinds": {kind: {"sampled", "keys" (estimated), "memory" (estimated
    bytes, None without MEMORY USAGE), "avg_ttl" (seconds, None when none expire)}}}; kinds are the
    namespaces, "token"/"lock" (helper keys beside values), "stats" and "other". None when Redis
    cannot be reached."""
    if not getattr(cache, "enabled", False):
        return None
    return cache.guarded(lambda client: _sample(client, cache, size), default=None)


def _sample(client: Any, cache: Any, size: int) -> dict[str, Any]:
    # SCAN and DBSIZE answer for one node: on a Cluster, one SCAN step on every primary (each its
    # share of `size`), each scaled by its own DBSIZE, so that no primary's keys are missed.
    primaries = [node for _, _, node in node_clients(client, primaries_only=True)]
    share = max(1, size // len(primaries))
    prefix = f"{cache.key_prefix}:"
    kinds: dict[str, dict[str, Any]] = {}
    sampled = db_keys = 0
    for node in primaries:
        node_keys, keys, answers = _sample_node(node, share)
        sampled, db_keys = sampled + len(keys), db_keys + node_keys
        scale = node_keys / len(keys) if keys else 0
        for i, raw in enumerate(keys):
            key = raw.decode(errors="replace")
            if key == cache.stats_key:
                kind = "stats"
            elif key.startswith(prefix):
                rest = key[len(prefix):].partition(":")[2]  # after Django's VERSION
                tail = rest.rpartition(":")[2]
                kind = tail if tail in _HELPERS else namespace_of(rest)
            else:
                kind = "other"
            ttl, memory = answers[2 * i], answers[2 * i + 1]
            entry = kinds.setdefault(kind, {"sampled": 0, "keys": 0.0, "memory": 0.0, "ttls": [], "no_memory": False})
            entry["sampled"] += 1
            entry["keys"] += scale
            if isinstance(ttl, int) and ttl > 0:
                entry["ttls"].append(ttl / 1000)
            if isinstance(memory, int):
                entry["memory"] += memory * scale
            else:
                entry["no_memory"] = True
    result = {}
    for kind, entry in sorted(kinds.items(), key=lambda item: -item[1]["sampled"]):
        result[kind] = {
            "sampled": entry["sampled"],
            "keys": round(entry["keys"]),
            "memory": None if entry["no_memory"] else round(entry["memory"]),
            "avg_ttl": round(sum(entry["ttls"]) / len(entry["ttls"])) if entry["ttls"] else None,
        }
    return {"sampled": sampled, "db_keys": db_keys, "kinds": result}


def _sample_node(client: Any, size: int) -> tuple[int, list[bytes], list[Any]]:
    """(DBSIZE, up to `size` keys from one SCAN step, their PTTL and MEMORY USAGE interleaved): one
    node, two round trips."""
    _, keys = client.scan(0, count=size)
    keys = keys[:size]
    pipe = client.pipeline(transaction=False)
    pipe.dbsize()
    for key in keys:
        pipe.pttl(key)
        pipe.execute_command("MEMORY USAGE", key)
    answers = pipe.execute(raise_on_error=False)
    return answers[0], keys, answers[1:]


def outbox_size() -> int | None:
    """Invalidations Redis has not taken yet (caching/consistency/outbox.py);
    None when the database cannot say."""
    from django.db import DatabaseError

    from caching.models import PendingInvalidation

    try:
        return PendingInvalidation.objects.pending().count()
    except DatabaseError:
        return None
