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


def run_once(ctx: Context, server: Server, *, warm: Path, measured: Path) -> dict:
    server.db.truncate()
    flush_bench_redis(ctx.redis)
    _replay(ctx, server, warm)
    if server.cache:
        time.sleep(STATS_SETTLE_S)
        manage(server.env, "cache_stats", "--reset")
    fdc_reset(ctx)
    run = _replay(ctx, server, measured)
    result = run.summary()
    result["fdc_calls"] = fdc_count(ctx)
    result["fdc_calls_per_turn"] = result["fdc_calls"] / run.turns if run.turns else None
    if server.cache:
        time.sleep(STATS_SETTLE_S)
        result["cache_stats"] = json.loads(manage(server.env, "cache_stats", "--json"))
        result["memory"] = memory.scan(ctx.redis)
    return result


def compare(ctx: Context, on: Server, off: Server, *, reps: int, warm: Path, measured: Path, light: Path,
            log=print) -> dict:
    runs: dict[str, list[dict]] = {"on": [], "off": [], "floor": []}
    for rep in range(reps):
        order = (on, off) if rep % 2 == 0 else (off, on)
        for server in order:
            result = run_once(ctx, server, warm=warm, measured=measured)
            runs["on" if server.cache else "off"].append(result)
            log(f"    rep {rep + 1}/{reps} {server.name}: {result['throughput']:.0f} turns/s, "
                f"p50 {result['latency_ms']['p50']:.1f} ms, p99 {result['latency_ms']['p99']:.1f} ms, "
                f"{result['errors']} errors")
            if server.cache:
                # Right after ours, before anything else runs: the machine's slow spells last minutes
                # here, and ours ÷ floor is only as good as the two runs are close.
                floor = floor_once(ctx, on, measured=measured)
                runs["floor"].append(floor)
                log(f"    rep {rep + 1}/{reps} floor: {floor['throughput']:.0f} turns/s, "
                    f"p50 {floor['latency_ms']['p50']:.1f} ms, p99 {floor['latency_ms']['p99']:.1f} ms, "
                    f"{floor['errors']} errors")
        # The next slice one turn at a time, both servers in lockstep: latency without queueing.
        light_runs = loadgen.lockstep({"on": on.url, "off": off.url}, light, secret=ctx.secret)
        for key, light_run in light_runs.items():
            runs[key][-1]["light"] = light_run
        log(f"    rep {rep + 1}/{reps} one turn at a time: p50 {light_runs['on']['latency_ms']['p50']:.1f} ms "
            f"on, {light_runs['off']['latency_ms']['p50']:.1f} ms off")
    return {
        "runs": runs,
        "on": loadgen.merge(runs["on"]),
        "off": loadgen.merge(runs["off"]),
        "floor": loadgen.merge(runs["floor"]),
        "floor_ratio": {field: _ratio_to_floor(runs, field) for field in
                        ("throughput", "server_cpu_ms_per_turn", "django_cpu_ms_per_turn")},
        "throughput_ratio": _paired_ratio(runs, "throughput"),
    }


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
