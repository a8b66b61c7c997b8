"""A Redis Cluster beside a single Redis, in one run: the hit path and the webhook under load.

    BENCH_DATABASE_URL=postgres://…/x_bench .venv/bin/python -m bench.cluster [--reps 2] [--write]
    make bench-cluster        (the same, with --write)

Both sides are started here from the same redis-server binary and settings: a single redis-server
and a Cluster of 3 primaries with 1 replica each (tools/redis_topologies.py), on loopback. The
database (dropped and re-created; its name must contain "bench") is shared, emptied before each
run. Prints a Markdown section; `--write` puts it into BENCHMARKS.md, where `make bench` keeps it
(as it keeps bench/compression.py's and bench/claim.py's).

- Hit path: the user-memory selector's hit (as a bot turn reads it) and a bare GET of the same
  entry, single and Cluster alternating in shuffled batches in one process (bench/hitpath.py's
  timing); each ratio is taken within a repetition.
- Webhook: two gunicorns (cache on Redis, cache on the Cluster) replay the same turns with wrk,
  alternating which goes first; the Cluster's invalidations wait for a replica (REDIS_WAIT_REPLICAS=1,
  its default), as deployed.
- The stats hash: the share of the Cluster's commands that its one slot receives during the
  webhook runs (is it a hot slot?), and how evenly the primaries share the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import sections

BEGIN, END = "<!-- cluster: bench/cluster.py --write -->", "<!-- /cluster -->"
SECTION = sections.Section(BEGIN, END)
HOT_SHARE = 0.05  # of the Cluster's commands on the stats hash's slot: above it, shard the hash
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthagent_bench"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2, help="webhook repetitions per side")
    parser.add_argument("--warm", type=int, default=1000, help="warm-up turns before each measured run")
    parser.add_argument("--turns", type=int, default=3000, help="measured turns per run")
    parser.add_argument("--hit-reps", type=int, default=9)
    parser.add_argument("--hit-calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args(argv)

    from tools.redis_topologies import Cluster

    from . import environment, servers
    from .postgres import BenchDatabase

    environment.ensure_wrk(log)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    db = BenchDatabase(database_url)
    single = servers.PrivateRedis()
    workdir = Path(tempfile.mkdtemp(prefix="healthagent-bench-cluster-"))
    cluster = None
    started = time.monotonic()
    try:
        single.start()
        log(f"==> a single redis-server on {single.port}, a Cluster (3 primaries, 1 replica each) under {workdir}")
        cluster = Cluster.start(workdir / "cluster")
        db.recreate()
        env = _environment(database_url)
        servers.manage({**env, "REDIS_URL": single.url}, "migrate", "--no-input", "-v", "0")
        results: dict[str, Any] = {"seed": args.seed}
        log(f"==> hit path: {args.hit_reps} reps × {args.hit_calls} calls per variant")
        results["hitpath"] = _hitpath(env, single.url, cluster.env, args)
        log(f"==> webhook: {args.reps} reps × {args.turns} turns after {args.warm} warm-up turns per side")
        results["webhook"] = _webhook(env, db, single, cluster, workdir, args)
        results["versions"] = environment.versions(_redis(single.url), db)
        results["machine"] = environment.machine()
    finally:
        if cluster is not None:
            cluster.stop()
        single.close()
        db.drop()
    results["duration_s"] = round(time.monotonic() - started)
    section = render(results, argv=sys.argv[1:])
    print(section)
    if args.write:
        SECTION.write(section)
    return 0


def _environment(database_url: str) -> dict[str, str]:
    from .run import _without_app_settings

    return {**_without_app_settings(os.environ), "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url, "DJANGO_SECRET_KEY": secrets.token_urlsafe(40), "DJANGO_DEBUG": "false",
            "TELEGRAM_WEBHOOK_SECRET": "bench_" + secrets.token_urlsafe(16), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # A load generator is one client sending many turns per user a minute: no turn rate.
            "BOT_TURNS_PER_MINUTE": "1000000",
            "NUTRITION_PROVIDER": "usda", "USDA_API_KEY": "bench-key", "LOG_LEVEL": "WARNING",
            "ENABLE_CACHE": "true"}


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


# --- the hit path ---------------------------------------------------------------------------------


def _hitpath(env: dict[str, str], single_url: str, cluster_env: dict[str, str], args: argparse.Namespace) -> dict:
    """In a subprocess of its own: Django configured for the single Redis, the Cluster's backend built
    beside it from the same OPTIONS (caching/servers/config.py), and `caches["default"]` swapped per batch."""
    import subprocess

    from .servers import ROOT, BenchError

    command = [sys.executable, "-m", "bench.cluster_hitpath", "--reps", str(args.hit_reps), "--calls",
               str(args.hit_calls), "--seed", str(args.seed), "--cluster", cluster_env["REDIS_CLUSTER_NODES"]]
    done = subprocess.run(command, env={**env, "REDIS_URL": single_url, "DJANGO_SETTINGS_MODULE": "healthagent.settings"},
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"the hit-path benchmark failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# --- the webhook ----------------------------------------------------------------------------------


def _webhook(env: dict[str, str], db: Any, single: Any, cluster: Any, workdir: Path, args: argparse.Namespace) -> dict:
    from . import loadgen, servers, workload

    fdc, fdc_url = servers.start_fake_fdc(150.0, workdir)
    processes = [fdc]
    try:
        turns = workload.turns(seed=args.seed, count=args.warm + args.turns, users=1000, foods=300)
        cold = workload.cold_flags(turns)
        warm = loadgen.write_requests(workdir / "warm.requests", turns[:args.warm], first_update_id=1, cold=cold[:args.warm])
        measured = loadgen.write_requests(workdir / "measured.requests", turns[args.warm:],
                                          first_update_id=1 + args.warm, cold=cold[args.warm:])
        sides = {"single": {**env, "USDA_API_URL": fdc_url, "REDIS_URL": single.url},
                 "cluster": {**env, "USDA_API_URL": fdc_url, **cluster.env}}
        launched = {}
        for name, side_env in sides.items():
            process, url = servers.launch_custom_gunicorn(f"gunicorn-{name}", side_env, workdir, workers=2, threads=8)
            processes.append(process)
            launched[name] = (process, url, side_env)
        for process, url, _ in launched.values():
            servers.wait_ready(process, url)
        primaries = [cluster.client(port) for port in cluster.primaries()]
        runs: dict[str, list[dict]] = {"single": [], "cluster": []}
        for rep in range(args.reps):
            for name in (("single", "cluster") if rep % 2 == 0 else ("cluster", "single")):
                process, url, side_env = launched[name]
                nodes = primaries if name == "cluster" else [_redis(single.url)]
                result = _run_once(url, process.pid, side_env, db, nodes, warm=warm, measured=measured)
                if name == "cluster":
                    result["commands"] = _commands(primaries)
                runs[name].append(result)
                log(f"    rep {rep + 1}/{args.reps} {name}: {result['throughput']:.0f} turns/s, "
                    f"p50 {result['latency_ms']['p50']:.1f} ms, p99 {result['latency_ms']['p99']:.1f} ms, "
                    f"{result['errors']} errors")
        return {"runs": runs}
    finally:
        for process in processes:
            process.stop()


def _run_once(url: str, pid: int, env: dict[str, str], db: Any, nodes: list[Any], *, warm: Path,
              measured: Path) -> dict:
    """From empty tables and an empty Redis: the warm-up slice, then the measured one (with the Redis
    command counters and the fleet's cache stats reset between them)."""
    from . import loadgen, servers
    from .webhook import STATS_SETTLE_S

    db.truncate()
    for node in nodes:
        node.flushall()

    def replay(path: Path) -> Any:
        return loadgen.replay(url, path, secret=env["TELEGRAM_WEBHOOK_SECRET"], connections=16, server_pid=pid,
                              timeout_s=600, database=db)

    replay(warm)
    time.sleep(STATS_SETTLE_S)
    servers.manage(env, "cache_stats", "--reset")
    for node in nodes:
        node.config_resetstat()
    result = replay(measured).summary()
    time.sleep(STATS_SETTLE_S)
    result["hit_rate"] = _hit_rate(json.loads(servers.manage(env, "cache_stats", "--json")))
    return result


def _hit_rate(report: dict) -> float | None:
    namespaces = report.get("namespaces") or {}
    hits = sum(ns["hits"] for ns in namespaces.values())
    reads = hits + sum(ns["misses"] for ns in namespaces.values())
    return hits / reads if reads else None


def _commands(primaries: list[Any]) -> dict:
    """Commands each primary ran since CONFIG RESETSTAT, and those of the stats hash's flush
    (MULTI/EXEC of HINCRBY, HSETNX, HDEL: caching/backend/stats.py) on the primary that holds it."""
    per_node, stats_commands = [], 0
    for node in primaries:
        info = node.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): figures["calls"] for name, figures in info.items()}
        per_node.append(sum(calls.values()))
        # Only the stats hash takes HINCRBY/HSETNX/HDEL from the service; MULTI/EXEC only its flush.
        stats_commands += sum(calls.get(name, 0) for name in ("hincrby", "hsetnx", "hdel", "multi", "exec"))
    return {"per_primary": per_node, "stats": stats_commands}


# --- the report -----------------------------------------------------------------------------------


def render(results: dict, *, argv: list[str]) -> str:
    from .percentile import median

    hit = results["hitpath"]
    runs = results["webhook"]["runs"]

    def figure(side: str, pick) -> float:
        return median([pick(run) for run in runs[side]])

    def ratio(pick) -> float:  # per repetition, cluster ÷ single, then the median
        return median([pick(c) / pick(s) for c, s in zip(runs["cluster"], runs["single"]) if pick(s)])

    rows = [("throughput (turns/s)", lambda r: r["throughput"], "{:.0f}"),
            ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"], "{:.1f}"),
            ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"], "{:.1f}"),
            ("server CPU per turn (ms)", lambda r: r["server_cpu_ms_per_turn"], "{:.2f}"),
            ("cache hit rate", lambda r: r["hit_rate"] or 0, "{:.1%}")]
    commands = [run["commands"] for run in runs["cluster"]]
    total = [sum(c["per_primary"]) for c in commands]
    stats_share = median([c["stats"] / t for c, t in zip(commands, total) if t])
    balance = median([max(c["per_primary"]) / min(c["per_primary"]) for c in commands if min(c["per_primary"])])
    elapsed = median([run["elapsed_s"] for run in runs["cluster"]])
    stats_per_s = median([c["stats"] for c in commands]) / elapsed if elapsed else 0
    errors = {side: sum(run["errors"] for run in runs[side]) for side in runs}
    versions = results["versions"]
    machine = results["machine"]
    reps, turns = len(runs["single"]), runs["single"][0]["turns"]
    lines = [
        BEGIN,
        "## Redis Cluster beside a single Redis (`bench/cluster.py`)",
        "",
        "The same service on a single redis-server and on a Cluster of 3 primaries with 1 replica each, both "
        "started by the benchmark from the same binary on this machine (loopback), measured side by side in "
        f"one run. `{' '.join(['python -m bench.cluster', *argv])}`, {results['duration_s']} s; "
        f"Redis {versions.get('redis_server', '?')}, PostgreSQL {versions.get('postgresql', '?')}, "
        f"{machine.get('cores', '?')} cores (shared with other work: ratios, not absolute figures, are the result).",
        "",
        "**Hit path** (one process; batches of each variant in shuffled order, "
        f"{hit['reps']} reps × {hit['calls']} calls; median µs per call, ratio taken within each rep):",
        "",
        "| read | single Redis | Cluster | Cluster ÷ single |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("raw", "a bare GET of the entry (redis-py `Redis` / `RedisCluster`)"),
                        ("selector", "the user-memory selector's hit, as a bot turn reads it")):
        row = hit["variants"][name]
        lines.append(f"| {label} | {row['single']:.1f} | {row['cluster']:.1f} | {row['ratio']:.2f}× |")
    lines += [
        "",
        f"**Webhook under load** (wrk -c16, 2 gunicorn workers × 8 threads each side, {reps} reps × {turns} "
        "measured turns after a warm-up, alternating which side goes first; medians over reps, ratios per rep; "
        "the Cluster's invalidations wait for a replica's WAIT):",
        "",
        "| | single Redis | Cluster | Cluster ÷ single |",
        "|---|---:|---:|---:|",
    ]
    for label, pick, fmt in rows:
        lines.append(f"| {label} | {fmt.format(figure('single', pick))} | {fmt.format(figure('cluster', pick))} "
                     f"| {ratio(pick):.2f}× |")
    lines += [
        f"| failed turns | {errors['single']} | {errors['cluster']} | |",
        "",
        f"**The stats hash** (one key, so one slot): its flushes were {stats_share:.2%} of the commands the "
        f"Cluster's primaries ran during the webhook runs (about {stats_per_s:.0f} commands a second: each process "
        "flushes once a second whatever the traffic, so their share falls as traffic grows), and the busiest "
        "primary ran "
        f"{balance:.2f}× the commands of the least busy one. "
        + ("Not a hot slot: the hash stays one key, unsharded." if stats_share < HOT_SHARE else
           f"More than {HOT_SHARE:.0%} of the commands: a hot slot, which sharding the hash would spread."),
        END,
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
