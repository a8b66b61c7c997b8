"""`make bench` / `make bench-quick`: start what the benchmark needs, run its four parts, write the
results (JSON), a chart (PNG) and the report (Markdown). See BENCHMARKS.md for what each part does.

    .venv/bin/python -m bench [--quick] [--out DIR] [--fdc-latency-ms 150] [--seed 1]

Environment: BENCH_REDIS_URL (default redis://127.0.0.1:6379/7: a database number of its own,
flushed), BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/healthagent_bench: dropped
and re-created). Both servers must already run; the benchmark starts gunicorn, the fake FDC and,
for the breaker's case, a redis-server of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import environment, loadgen, servers, speed, webhook, workload
from .postgres import BenchDatabase
from .servers import ROOT, BenchError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthagent_bench"


@dataclass(frozen=True)
class Profile:
    name: str
    hit_reps: int
    hit_calls: int
    fdc_calls: int
    webhook_reps: int
    warm_turns: int  # replayed from empty tables and Redis: the cold start
    measured_turns: int  # then the warm steady state
    text_turns: int  # warm users' free text, ours beside the floor without the counting middleware
    slow_turns: int  # the next slice with FDC answering after `slow_fdc_ms`
    light_turns: int  # replayed one at a time after the measured slice: latency without queueing
    breaker_turns: tuple[int, int, int, int]  # up, stopping, down, restarted
    connections: int = 16
    users: int = 1000
    foods: int = 300
    slow_fdc_ms: float = 1000.0
    kill_after_s: float = 0.3
    breaker_cooldown_s: float = 5.0  # REDIS_BREAKER_COOLDOWN; 5 s is the production default


# The worker model is not here: every gunicorn runs healthagent/gunicorn_conf.py (servers.SERVE_ARGS),
# and the report says what its workers said they were (servers.worker_report).
# Sized for the shared 2-core machine: two runs (one to reproduce the other) fit in about half an hour
# even while other work takes most of it; the repetitions, not long slices, give the ranges.
FULL = Profile("full", hit_reps=5, hit_calls=500, fdc_calls=5, webhook_reps=5, warm_turns=400,
               measured_turns=600, text_turns=300, slow_turns=300, light_turns=40,
               breaker_turns=(300, 300, 400, 400))
# Quick: its breaker phases last about a second each, so the cool-down is shortened to let them
# see a probe and the recovery (said so in its report).
QUICK = Profile("quick", hit_reps=3, hit_calls=250, fdc_calls=2, webhook_reps=2, warm_turns=300,
                measured_turns=300, text_turns=150, slow_turns=150, light_turns=20,
                breaker_turns=(100, 150, 150, 150), breaker_cooldown_s=0.5)


def log(message: str) -> None:
    print(message, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs (under a minute): a smoke test, not figures to publish")
    parser.add_argument("--out", type=Path, help="where the results go (default: bench/results, quick: bench/results/quick)")
    parser.add_argument("--fdc-latency-ms", type=float, default=150.0, help="the fake FDC's latency per search")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload and of the variants' order")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the benchmark database at the end")
    parser.add_argument("--reps", type=int, help="webhook repetitions (default: 5, quick: 2)")
    parser.add_argument("--previous", type=Path, help="the earlier run (JSON) this one must reproduce "
                        "(default: the newest in bench/results)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.reps:
        profile = replace(profile, webhook_reps=args.reps)
    out = args.out or (ROOT / "bench" / "results" / ("quick" if args.quick else ""))
    try:
        results = run(args, profile)
    except BenchError as error:
        print(f"\nbench: {error}", file=sys.stderr)
        return 2
    written = write(results, out, full=not args.quick, previous=args.previous)
    log("\n==> written: " + ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in written))
    return 0


def run(args: argparse.Namespace, profile: Profile) -> dict:
    started = time.time()
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    environment.ensure_wrk(log)
    redis_client = servers.bench_redis(redis_url)
    db = BenchDatabase(database_url)
    databases = [db]
    results: dict = {
        "profile": asdict(profile), "seed": args.seed, "fdc_latency_ms": args.fdc_latency_ms,
        "mix": dict(workload.DEFAULT_MIX),
        "command": environment.command(quick=args.quick, argv=sys.argv[1:]),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": environment.machine(), "versions": environment.versions(redis_client, db),
    }
    logdir = Path(tempfile.mkdtemp(prefix="healthagent-bench-"))
    secret = "bench_" + secrets.token_urlsafe(16)
    base_env = {
        **_without_app_settings(os.environ), "DJANGO_SETTINGS_MODULE": "bench.settings", "DATABASE_URL": database_url,
        "REDIS_URL": redis_url, "DJANGO_SECRET_KEY": secrets.token_urlsafe(40), "DJANGO_DEBUG": "false",
        "TELEGRAM_WEBHOOK_SECRET": secret, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # A load generator is one client sending many turns per user a minute: no turn rate.
        "BOT_TURNS_PER_MINUTE": "1000000",
        "NUTRITION_PROVIDER": "usda", "USDA_API_KEY": "bench-key",
        # LOG_LEVEL unset: the shipped default (INFO, gunicorn's access line for every request).
    }
    started_processes: list[servers.Process] = []
    private = servers.PrivateRedis()  # for the breaker's case
    try:
        log(f"==> {profile.name} benchmark; logs in {logdir}")
        results["speed"] = [speed.probe(redis_client)]
        log(f"==> machine speed: raw GET {results['speed'][0]['raw_get_us']} µs, CPU loop "
            f"{results['speed'][0]['cpu_loop_ms']} ms (idle reference {speed.REFERENCE})")
        log(f"==> PostgreSQL database {db.name}: re-created and migrated")
        db.recreate()
        servers.flush_bench_redis(redis_client)
        servers.manage(base_env, "migrate", "--no-input", "-v", "0")
        databases.append(db.clone("_off"))  # the cache-off server's: both keep their state side by side

        log(f"==> part 1 and 3: hit path ({profile.hit_reps} reps × {profile.hit_calls} calls per variant)")
        with _timed(results, "hitpath"):
            results["hitpath"] = _hitpath(base_env, args, profile)

        log("==> the hot path's changes, each before beside after (bench/hot_path.py)")
        with _timed(results, "hot_path"):
            results["hot_path"] = _subprocess_json(base_env, "bench.hot_path")

        fdc, fdc_url = servers.start_fake_fdc(args.fdc_latency_ms, logdir)
        started_processes.append(fdc)
        base_env["USDA_API_URL"] = fdc_url
        files = _workload_files(logdir, args.seed, profile)
        on, off, plain = _start_servers(base_env, databases, logdir, profile, private, started_processes)
        results["server"] = servers.worker_report(on.process, on.url)
        results["server"]["command"] = "gunicorn " + " ".join(servers.SERVE_ARGS)
        log(f"==> gunicorn as `make serve` runs it ({results['server']['command']}): workers report "
            f"{results['server']['worker_class']}, threads {results['server']['threads']}, "
            f"{results['server']['configured_workers']} workers; the master logged {results['server']['master_logged']!r}")
        ctx = webhook.Context(redis_client, fdc_url, secret, profile.connections, timeout_s=600)

        log(f"==> part 2: webhook, cache on vs off vs the floor ({profile.webhook_reps} reps: {profile.warm_turns} "
            f"turns from empty (cold), {profile.measured_turns} warm, {profile.text_turns} warm text, "
            f"{profile.slow_turns} with FDC at {profile.slow_fdc_ms:.0f} ms; wrk -t1 -c{profile.connections}; then "
            f"{profile.light_turns} turns one at a time)")
        with _timed(results, "webhook"):
            results["webhook"] = webhook.compare(ctx, on, off, plain, reps=profile.webhook_reps, slices=files,
                                                 fdc_slow_ms=profile.slow_fdc_ms, fdc_normal_ms=args.fdc_latency_ms,
                                                 probe=lambda: speed.probe(redis_client), log=log)
        results["speed"] += results["webhook"]["runs"].pop("probes")

        # The three servers' database pools go before the breaker's server starts: PostgreSQL's
        # connections are shared with whatever else runs on the machine.
        for server in (on, off, plain):
            server.process.stop()
        broken = _start_breaker_server(base_env, databases[0], logdir, profile, private, started_processes)
        log("==> part 2: the breaker's case (a private redis-server stopped mid-run, then restarted empty)")
        if broken is None:
            results["breaker"] = {"skipped": "redis-server is not installed"}
            log("    skipped: redis-server is not installed")
        else:
            with _timed(results, "breaker"):
                results["breaker"] = webhook.breaker(
                    ctx, broken, private, phases={k: files[k] for k in ("up", "stopping", "down", "restarted")},
                    kill_after_s=profile.kill_after_s, cooldown_s=profile.breaker_cooldown_s, log=log)
        log("==> where a warm text turn's time goes, beside the floor's (cProfile, one process: bench/profile_turn.py)")
        with _timed(results, "profile"):
            done = subprocess.run([sys.executable, "-m", "bench.profile_turn", "--shares", "--users", "40", "--rounds",
                                   "10"],
                                  env={**base_env, "BENCH_COUNTING": "0", "ENABLE_CACHE": "true"}, cwd=ROOT,
                                  capture_output=True, text=True)
            if done.returncode:
                raise BenchError(f"bench.profile_turn failed:\n{done.stderr[-3000:]}")
            results["profile_turn"] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for process in started_processes:
            process.stop()
        private.close()
        servers.flush_bench_redis(redis_client)
        if not args.keep_database:
            for database in databases:
                database.drop()
    results["speed"] = speed.flag_slow(results["speed"] + [speed.probe(redis_client)])
    results["duration_s"] = time.time() - started
    results["machine"]["load_after"] = environment.load_average()
    return results


# The application's own variables (.env.example): a developer's shell must not change what is measured.
_APP_VARIABLES = ("DJANGO_", "DATABASE_", "REDIS_", "ENABLE_CACHE", "CACHE_TTL_", "USDA_", "NUTRITION_",
                  "TELEGRAM_", "LOG_LEVEL", "TIME_ZONE", "SLOW_QUERY_MS")


def _without_app_settings(environ: os._Environ | dict) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith(_APP_VARIABLES)}


def _start_servers(base_env: dict[str, str], databases: list[BenchDatabase], logdir: Path, profile: Profile,
                   private: servers.PrivateRedis, started: list[servers.Process],
                   ) -> tuple[webhook.Server, webhook.Server, webhook.Server]:
    """The gunicorns, started together, each as `make serve` starts it: cache on and cache off (each
    with its own database, counting per request: bench/middleware.py), and cache on without the
    counting middleware (its CPU and throughput beside the floor's: nothing bench-only in the path)."""
    on_db, off_db = databases
    envs = {"cache on": ({**base_env, "ENABLE_CACHE": "true"}, on_db),
            "cache off": ({**base_env, "ENABLE_CACHE": "false", "DATABASE_URL": off_db.url}, off_db),
            "cache on, not counting": ({**base_env, "ENABLE_CACHE": "true", "BENCH_COUNTING": "0"}, on_db)}
    launched = {name: _launch(name, env, db, logdir, started) for name, (env, db) in envs.items()}
    for server in launched.values():
        servers.wait_ready(server.process, server.url)
    return launched["cache on"], launched["cache off"], launched["cache on, not counting"]


def _launch(name: str, env: dict[str, str], db: BenchDatabase, logdir: Path, started: list[servers.Process]) -> webhook.Server:
    process, url = servers.launch_gunicorn("gunicorn-" + name.replace(" ", "-").replace(",", ""), env, logdir)
    started.append(process)
    return webhook.Server(name, process, url, env, cache=env["ENABLE_CACHE"] == "true", db=db)


def _start_breaker_server(base_env: dict[str, str], db: BenchDatabase, logdir: Path, profile: Profile,
                          private: servers.PrivateRedis | None, started: list[servers.Process]) -> webhook.Server | None:
    """Cache on in a private redis-server (the breaker's case), on the cache-on database."""
    if private is None:
        return None
    private.start()
    env = {**base_env, "ENABLE_CACHE": "true", "REDIS_URL": private.url,
           "REDIS_BREAKER_COOLDOWN": str(profile.breaker_cooldown_s)}
    server = _launch("breaker", env, db, logdir, started)
    servers.wait_ready(server.process, server.url)
    return server


@contextlib.contextmanager
def _timed(results: dict, part: str):
    started = time.monotonic()
    yield
    results.setdefault("part_seconds", {})[part] = round(time.monotonic() - started, 1)
    log(f"    ({part}: {results['part_seconds'][part]:.0f} s)")


def _hitpath(env: dict[str, str], args: argparse.Namespace, profile: Profile) -> dict:
    command = [sys.executable, "-m", "bench.hitpath", "--reps", str(profile.hit_reps), "--calls",
               str(profile.hit_calls), "--fdc-calls", str(profile.fdc_calls), "--fdc-latency-ms",
               str(args.fdc_latency_ms), "--seed", str(args.seed)]
    done = subprocess.run(command, env={**env, "DJANGO_SETTINGS_MODULE": "healthagent.settings"}, cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"the hit-path benchmark failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


TEXT_FIRST_UPDATE_ID = 10**9  # the warm-text slice's update ids: apart from the workload's


def _subprocess_json(env: dict[str, str], module: str) -> dict:
    done = subprocess.run([sys.executable, "-m", module], env={**env, "DJANGO_SETTINGS_MODULE": "healthagent.settings"},
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"{module} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _workload_files(logdir: Path, seed: int, profile: Profile) -> dict[str, Path]:
    """Consecutive slices of one workload: warm-up (the cold start), measured, slow FDC, light, then
    the breaker's four phases; and warm free-text turns of users the warm-up and measured slices saw."""
    sizes = {"warm": profile.warm_turns, "measured": profile.measured_turns, "slow": profile.slow_turns,
             "light": profile.light_turns, **dict(zip(("up", "stopping", "down", "restarted"), profile.breaker_turns))}
    turns = workload.turns(seed=seed, count=sum(sizes.values()), users=profile.users, foods=profile.foods)
    cold = workload.cold_flags(turns)  # over the whole sequence: the warm-up's first contacts are not cold later
    files, offset = {}, 0
    for name, size in sizes.items():
        files[name] = loadgen.write_requests(logdir / f"{name}.requests", turns[offset:offset + size],
                                             first_update_id=1 + offset, cold=cold[offset:offset + size])
        offset += size
    seen = {turn.user_id for turn in turns[:profile.warm_turns + profile.measured_turns]}
    text = [turn for turn in itertools.islice(
        (t for t in workload.iter_turns(seed=seed + 1, users=profile.users, foods=profile.foods, mix={"text": 1.0})
         if t.user_id in seen), profile.text_turns)]
    files["text"] = loadgen.write_requests(logdir / "text.requests", text, first_update_id=TEXT_FIRST_UPDATE_ID,
                                           cold=["-"] * len(text))
    return files


def write(results: dict, out: Path, *, full: bool, previous: Path | None = None) -> list[Path]:
    from . import report, reproduce

    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = out / f"{stamp}.json"
    previous = previous or reproduce.previous_run(out, json_path, results["profile"]["name"])
    if previous is not None:
        earlier = json.loads(previous.read_text())
        results["reproduction"] = {"previous": previous.name, "previous_started_at": earlier.get("started_at"),
                                   "rows": reproduce.compare(results, earlier),
                                   "previous_goals": [list(row) for row in report.goal_rows(earlier)],
                                   "previous_speed": earlier.get("speed"), "previous_server": earlier.get("server")}
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    written = [json_path]
    chart_path = out / f"{stamp}.png"
    try:
        from . import chart
    except ImportError as error:  # matplotlib missing: the tables are still written
        log(f"    no chart: {error} (pip install -r bench/requirements.txt)")
        chart_path = None
    else:
        chart.draw(results, chart_path)
        written.append(chart_path)
    markdown = ROOT / "BENCHMARKS.md" if full else out / "BENCHMARKS.md"
    rewrite_keeping_own_sections(markdown, report.render(results, chart=chart_path, json_path=json_path,
                                                         relative_to=markdown.parent))
    written.append(markdown)
    return written


def rewrite_keeping_own_sections(markdown: Path, text: str) -> None:
    """Write the report, keeping the sections measured on their own (bench/compression.py, claim.py,
    cluster.py, failover.py, resume.py, agent.py and agent_slow.py: each writes its section with --write)."""
    from . import agent, agent_slow, claim, cluster, compression, failover, resume, sections

    sections.rewrite(markdown, text, [module.SECTION for module in (compression, claim, cluster, failover, resume, agent,
                                                                   agent_slow)])
