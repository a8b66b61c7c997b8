"""manage.py cache_stats [--json] [--reset]: the fleet's cache counters per namespace and Redis INFO."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from caching.ops import actions
from caching.backend import stats
from caching.ops.report import read_fleet_stats
from healthagent.errors import ApplicationError

_COLUMNS = ("hits", "misses", "hit_rate", "sets", "deletes", "errors", "bypassed")


class Command(BaseCommand):
    help = (
        "Cache hits, misses, sets, deletes and errors per namespace, summed over every process, "
        "and Redis INFO. Exits 1 when Redis cannot be reached."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON (docs/ARCHITECTURE.md §5.6 schema)")
        parser.add_argument("--reset", action="store_true", help="zero the counters (never the cached data)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actions.require_shared_cache()
        except ApplicationError as error:
            raise CommandError(error.message) from None
        if options["reset"]:
            if not stats.reset():
                failed = read_fleet_stats()
                if failed["enabled"]:
                    raise CommandError(f"Redis at {failed['redis']['url']} cannot be reached: counters not reset")
            if not options["json"]:
                self.stdout.write("Cache counters reset to zero (cached data untouched).")
                return
        report = read_fleet_stats()

        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(render(report))
        redis = report["redis"]
        if report["enabled"] and not redis["reachable"]:
            raise CommandError(f"Redis at {redis['url']} cannot be reached: {redis['error']}")


def render(report: dict[str, Any]) -> str:
    if not report["enabled"]:
        return "Caching is disabled (ENABLE_CACHE=false): nothing is read from or written to Redis."
    redis = report["redis"]
    lines = [f"Cache: {report['backend']} on {redis['url']}; breaker in this process: {redis['breaker']}"]
    if not redis["reachable"]:
        return "\n".join(lines)
    lines += ["", _row("namespace", *(c.replace("_", " ") for c in _COLUMNS))]
    sums = dict.fromkeys(_COLUMNS, 0)
    for namespace, counts in report["namespaces"].items():
        lines.append(_row(namespace, *(_cell(c, counts) for c in _COLUMNS)))
        for column in _COLUMNS:
            if column != "hit_rate":
                sums[column] += counts[column]
    reads = sums["hits"] + sums["misses"]
    total: dict[str, float | None] = {**sums, "hit_rate": sums["hits"] / reads if reads else None}
    lines.append(_row("total", *(_cell(c, total) for c in _COLUMNS)))
    agent = report["namespaces"].get("agent") or {}
    if agent.get("model_calls") or agent.get("hits"):
        lines.append(f"agent: {agent['model_calls']} model calls, {agent['tokens_in']} tokens in, "
                     f"{agent['tokens_out']} tokens out; {agent['hits']} answers from the cache")

    lines += ["", f"Redis {redis.get('version') or ''}".rstrip()]
    if redis["keyspace_hits"] is None:
        lines.append("  embedded: it lives inside each process, so this report sees this process only;")
        lines.append("  it has no INFO either (no memory or eviction figures). Set REDIS_URL for a fleet.")
        lines.append(f"  keys in this database   {redis['db_keys']}")
        return "\n".join(lines)
    hits, misses = redis["keyspace_hits"], redis["keyspace_misses"]
    rate = f" ({hits / (hits + misses):.1%})" if hits + misses else ""
    lines += [
        f"  keyspace hits / misses  {hits} / {misses}{rate}",
        f"  memory used / max       {redis['used_memory_human']} / "
        + (redis["maxmemory_human"] if redis["maxmemory"] else "no limit"),
        f"  eviction policy         {redis['maxmemory_policy']}",
        f"  evicted keys            {redis['evicted_keys']}",
        f"  connected clients       {redis['connected_clients']}",
        f"  keys in this database   {redis['db_keys']}",
    ]
    if redis.get("nodes"):  # a Redis Cluster: the figures above are its sums
        lines += ["", f"  {'node':<22}{'role':<9}{'keys':>8}{'hits':>10}{'misses':>10}{'memory':>10}{'evicted':>9}"]
        for node in redis["nodes"]:
            if node.get("error"):
                lines.append(f"  {node['node']:<22}{node['role']:<9}  {node['error']}")
                continue
            lines.append(f"  {node['node']:<22}{node['role']:<9}{node['db_keys']:>8}{node['keyspace_hits']:>10}"
                         f"{node['keyspace_misses']:>10}{node['used_memory_human']:>10}{node['evicted_keys']:>9}")
    if not redis["maxmemory"]:
        lines.append("  note: no maxmemory: Redis grows until the machine runs out; set maxmemory")
    if redis["maxmemory_policy"] == "noeviction":
        lines.append("  note: noeviction fails writes (OOM) once full; a cache wants volatile-lru or allkeys-lru")
    return "\n".join(lines)


def _cell(column: str, counts: dict[str, Any]) -> str:
    value = counts[column]
    if column == "hit_rate":
        return "-" if value is None else f"{value:.1%}"
    return str(value)


def _row(first: str, *cells: str) -> str:
    return f"{first:<22}" + "".join(f"{cell:>10}" for cell in cells)
