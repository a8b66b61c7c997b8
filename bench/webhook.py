"""Part 2: webhook turns under load, cache on beside ENABLE_CACHE=false, and the breaker's case.

Both servers run side by side for the whole part, each on its own database; repetitions alternate
which goes first (on/off, off/on, ...). Before every run the server's tables and the benchmark's
Redis database are emptied, so each replays the same turns from the same state: a warm-up slice (not
measured), then the measured slice under load. Then both replay the next slice one turn at a time,
in lockstep (loadgen.lockstep). SQL statements are counted by the server (bench/middleware.py), FDC
calls by the fake FDC, cache hits by the fleet stats (`cache_stats --json`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from . import loadgen, memory
from .postgres import BenchDatabase
from .servers import PrivateRedis, Process, flush_bench_redis, manage

STATS_SETTLE_S = 1.3  # > STATS_FLUSH_INTERVAL (1 s): every worker has flushed its counts


@dataclass
class Server:
    name: str
    process: Process
    url: str
    env: dict[str, str]
    cache: bool
    db: BenchDatabase  # each server has its own, so both keep their state until the lockstep pass


@dataclass
class Context:
    redis: object  # redis.Redis on the benchmark's database
    fdc_url: str
    secret: str
    connections: int
    timeout_s: float


def fdc_count(ctx: Context) -> int:
    return requests.get(f"{ctx.fdc_url}/__bench__/count", timeout=5).json()["searches"]


def fdc_reset(ctx: Context) -> None:
    requests.post(f"{ctx.fdc_url}/__bench__/reset", timeout=5)


def _replay(ctx: Context, server: Server, path: Path, *, url_path: str = loadgen.WEBHOOK_PATH) -> loadgen.Run:
    return loadgen.replay(server.url, path, secret=ctx.secret, connections=ctx.connections,
                          server_pid=server.process.pid, timeout_s=ctx.timeout_s, database=server.db, path=url_path)


def floor_once(ctx: Context, server: Server, *, measured: Path) -> dict:
    """The floor (bench/floor.py) in `server`'s gunicorn and database, replaying the measured slice
    right after the bot did: the same load, the same tables, none of the bot."""
    return _replay(ctx, server, measured, url_path=loadgen.FLOOR_PATH).summary()


def fdc_latency(ctx: Context, ms: float) -> None:
    requests.post(f"{ctx.fdc_url}/__bench__/latency", params={"ms": ms}, timeout=5).raise_for_status()


# Kinds that never call FDC (bench/workload.py): what a slow FDC must not slow down.
NO_LOOKUP_KINDS = ("profile", "today", "set")


def no_lookup_ms(result: dict) -> float | None:
    """Mean server-side time (ms, X-Bench-Us) of the turns that make no FDC call."""
    kinds = [result["kinds"][k] for k in NO_LOOKUP_KINDS if k in result.get("kinds", {})]
    turns = sum(k["turns"] for k in kinds)
    return sum(k["server_ms"] * k["turns"] for k in kinds) / turns if turns else None


def run_once(ctx: Context, server: Server, *, slices: dict[str, Path], fdc_slow_ms: float, fdc_normal_ms: float,
             floor_on: Server | None = None, plain: Server | None = None) -> tuple[dict, dict]:
    """One repetition on `server`: from emptied tables and Redis, the cold start (the warm-up slice),
    the warm steady state (the measured slice), then the slow-upstream case (the next slice with FDC
    answering after `fdc_slow_ms`). With `floor_on` (the cache-on server), the floor replays each
    slice right after ours; with `plain` (the same server's configuration without the counting
    middleware), ours and the floor replay warm free-text turns there: whole-process CPU per turn."""
    server.db.truncate()
    flush_bench_redis(ctx.redis)
    fdc_reset(ctx)
    cold = _replay(ctx, server, slices["warm"])
    result: dict = {"cold": cold.summary()}
    result["cold"]["fdc_calls"] = fdc_count(ctx)
    floors: dict = {}
    if floor_on is not None:
        floors["cold"] = floor_once(ctx, floor_on, measured=slices["warm"])
    if server.cache:
        time.sleep(STATS_SETTLE_S)
        manage(server.env, "cache_stats", "--reset")
    fdc_reset(ctx)
    run = _replay(ctx, server, slices["measured"])
    result.update(run.summary())
    result["fdc_calls"] = fdc_count(ctx)
    result["fdc_calls_per_turn"] = result["fdc_calls"] / run.turns if run.turns else None
    result["no_lookup_ms"] = no_lookup_ms(result)
    if server.cache:
        time.sleep(STATS_SETTLE_S)
        result["cache_stats"] = json.loads(manage(server.env, "cache_stats", "--json"))
        result["memory"] = memory.scan(ctx.redis)
    if floor_on is not None:
        floors["warm"] = floor_once(ctx, floor_on, measured=slices["measured"])
    if plain is not None:
        # Ours, then the floor, on the same warm users' free text: nothing bench-only in the path.
        result["text"] = _replay(ctx, plain, slices["text"]).summary()
        floors["text"] = _replay(ctx, plain, slices["text"], url_path=loadgen.FLOOR_PATH).summary()
    fdc_latency(ctx, fdc_slow_ms)
    fdc_reset(ctx)
    try:
        slow = _replay(ctx, server, slices["slow"])
        result["slow"] = slow.summary()
        result["slow"]["fdc_calls"] = fdc_count(ctx)
        result["slow"]["no_lookup_ms"] = no_lookup_ms(result["slow"])
        if floor_on is not None:
            floors["slow"] = floor_once(ctx, floor_on, measured=slices["slow"])
    finally:
        fdc_latency(ctx, fdc_normal_ms)
    return result, floors


def compare(ctx: Context, on: Server, off: Server, plain: Server, *, reps: int, slices: dict[str, Path],
            fdc_slow_ms: float, fdc_normal_ms: float, probe=None, log=print) -> dict:
    runs: dict[str, list[dict]] = {"on": [], "off": [], "floor": [], "floor_cold": [], "floor_slow": [],
                                   "floor_text": [], "probes": []}
    for rep in range(reps):
        if probe is not None:
            runs["probes"].append(probe())
        order = (on, off) if rep % 2 == 0 else (off, on)
        for server in order:
            result, floors = run_once(ctx, server, slices=slices, fdc_slow_ms=fdc_slow_ms, fdc_normal_ms=fdc_normal_ms,
                                      floor_on=on if server.cache else None, plain=plain if server.cache else None)
            runs["on" if server.cache else "off"].append(result)
            log(f"    rep {rep + 1}/{reps} {server.name}: warm {result['throughput']:.0f} turns/s "
                f"(p50 {result['latency_ms']['p50']:.1f} ms), cold {result['cold']['throughput']:.0f}, "
                f"slow FDC {result['slow']['throughput']:.0f}, {result['errors']} errors")
            if server.cache:
                runs["floor"].append(floors["warm"])
                runs["floor_cold"].append(floors["cold"])
                runs["floor_slow"].append(floors["slow"])
                runs["floor_text"].append(floors["text"])
                text = result["text"]
                log(f"    rep {rep + 1}/{reps} floor: warm {floors['warm']['throughput']:.0f} turns/s; warm text: ours "
                    f"{text['throughput']:.0f} turns/s {text['server_cpu_ms_per_turn']:.2f} ms CPU, floor "
                    f"{floors['text']['throughput']:.0f} turns/s {floors['text']['server_cpu_ms_per_turn']:.2f} ms CPU")
        # The next slice one turn at a time, both servers in lockstep: latency without queueing.
        light_runs = loadgen.lockstep({"on": on.url, "off": off.url}, slices["light"], secret=ctx.secret)
        for key, light_run in light_runs.items():
            runs[key][-1]["light"] = light_run
    if probe is not None:
        runs["probes"].append(probe())
    return {
        "runs": runs,
        "on": loadgen.merge(runs["on"]),
        "off": loadgen.merge(runs["off"]),
        "floor": loadgen.merge(runs["floor"]),
        "scenarios": scenarios(runs),
        "floor_ratio": {field: _ratio_to_floor(runs, field) for field in
                        ("throughput", "server_cpu_ms_per_turn", "django_cpu_ms_per_turn")},
        "text_ratio": {field: _ratio_pairs([r["text"] for r in runs["on"]], runs["floor_text"], field)
                       for field in ("throughput", "server_cpu_ms_per_turn")},
        "throughput_ratio": _paired_ratio(runs, "throughput"),
    }


_SCENARIO_FIELDS = ("throughput", "server_cpu_ms_per_turn", "errors", "fdc_calls", "no_lookup_ms",
                    ("latency_ms", "p50"), ("latency_ms", "p99"))


def scenarios(runs: dict[str, list[dict]]) -> dict:
    """{scenario: {side: {field: spread}}}: warm (the measured slice), cold (the warm-up slice from
    empty), slow FDC (the next slice, FDC at 1 s), warm text (ours and the floor, no counting
    middleware); sides: cache on, cache off, floor."""
    from .percentile import spread

    sources = {
        "warm": {"on": runs["on"], "off": runs["off"], "floor": runs["floor"]},
        "cold": {"on": [r["cold"] for r in runs["on"]], "off": [r["cold"] for r in runs["off"]], "floor": runs["floor_cold"]},
        "slow": {"on": [r["slow"] for r in runs["on"]], "off": [r["slow"] for r in runs["off"]], "floor": runs["floor_slow"]},
        "text": {"on": [r["text"] for r in runs["on"] if "text" in r], "floor": runs["floor_text"]},
    }
    table: dict = {}
    for scenario, sides in sources.items():
        for side, results in sides.items():
            cell = {}
            for field in _SCENARIO_FIELDS:
                path = field if isinstance(field, tuple) else (field,)
                values = []
                for result in results:
                    value = result
                    for key in path:
                        value = value.get(key) if isinstance(value, dict) else None
                    if isinstance(value, (int, float)):
                        values.append(value)
                if values:
                    cell[".".join(path)] = spread(values)
            table.setdefault(scenario, {})[side] = cell
    return table


def _ratio_pairs(ours: list[dict], floor: list[dict], field: str) -> dict | None:
    from .percentile import spread

    values = [a[field] / b[field] for a, b in zip(ours, floor) if a.get(field) and b.get(field)]
    return spread(values) if values else None


def _ratio_to_floor(runs: dict[str, list[dict]], field: str) -> dict:
    """Ours (cache on) ÷ the floor, per repetition (the floor runs right after ours in each, whichever server went first)."""
    from .percentile import spread

    return spread([a[field] / b[field] for a, b in zip(runs["on"], runs["floor"]) if a.get(field) and b.get(field)])


def _paired_ratio(runs: dict[str, list[dict]], field: str) -> dict:
    from .percentile import spread

    return spread([a[field] / b[field] for a, b in zip(runs["on"], runs["off"]) if b[field]])


def breaker(ctx: Context, server: Server, private: PrivateRedis, *, phases: dict[str, Path], kill_after_s: float,
            cooldown_s: float, log=print) -> dict:
    """`server` caches in `private`, a redis-server of the benchmark's own: stopped `kill_after_s`
    into the "stopping" phase, started again (empty) before the "restarted" one."""
    results: dict = {"kill_after_s": kill_after_s, "cooldown_s": cooldown_s}
    server.db.truncate()
    fdc_reset(ctx)
    for phase, path in phases.items():
        killer = None
        if phase == "stopping":
            killer = threading.Timer(kill_after_s, private.stop)
            killer.start()
        if phase == "restarted":
            private.start()
        run = _replay(ctx, server, path)
        if killer is not None:
            killer.join()
        results[phase] = run.summary()
        log(f"    {phase}: {run.throughput:.0f} turns/s, p50 {run.latency_ms('p50'):.1f} ms, "
            f"p99 {run.latency_ms('p99'):.1f} ms, {run.errors} errors")
    # Counts made while Redis was away were kept by each process; they are flushed once its breaker
    # has let a call through again (the flusher's own call probes after the cool-down).
    time.sleep(cooldown_s + STATS_SETTLE_S)
    results["cache_stats_after"] = json.loads(manage(server.env, "cache_stats", "--json"))
    results["log"] = _breaker_log(server.process)
    return results


def _breaker_log(process: Process) -> dict:
    """What the server logged about the outage: ARCHITECTURE.md §5.4 wants one line per state change."""
    lines = [line for line in process.log_path.read_text(errors="replace").splitlines()
             if "WARNING" in line or "ERROR" in line]
    return {
        "breaker_opened": sum("cache breaker open" in line for line in lines),
        "breaker_closed": sum("cache breaker closed" in line for line in lines),
        "errors": sum(" ERROR " in line for line in lines),
        "warning_lines": len(lines),
        "first_lines": lines[:20],
    }
