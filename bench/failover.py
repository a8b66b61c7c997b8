"""What a failover of the cache's primary costs the webhook: turns lost, and latency during it beside
outside it, on a Sentinel set and on a Cluster (tools/redis_topologies.py), in one run.

    BENCH_DATABASE_URL=postgres://…/…bench… .venv/bin/python -m bench.failover [--failovers 3] [--write]

Each topology serves two gunicorn processes, which two load processes send webhook turns to (a read,
a preference write, a history read per three turns, over 40 users) while the primary is killed
(kill -9; it comes back as a replica at once) and then failed over by hand (`SENTINEL FAILOVER` /
`CLUSTER FAILOVER`), `--failovers` times each, and while a replica is down for a few seconds. A
turn is *during* a failover when it started between the fault and the moment caching resumed (the
new primary answers, has a replica in sync, and both processes' breakers are closed again), else
*outside*. A turn is lost when it got no 200. Takes about four minutes. Prints a Markdown section;
`--write` puts it into BENCHMARKS.md (where `make bench` keeps it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from bench import sections
from bench.percentile import percentile
from bench.postgres import BenchDatabase
from bench.servers import BenchError, launch_custom_gunicorn, manage, wait_ready
from tools.redis_topologies import MASTER_NAME, Cluster, SentinelSet, wait_for

BEGIN, END = "<!-- failover: bench/failover.py --write -->", "<!-- /failover -->"
SECTION = sections.Section(BEGIN, END)
SECRET = "bench-failover-secret"
USERS = 40
GAP_S = 4.0  # steady load between two faults (and before the first)
REPLICA_DOWN_S = 6.0


# --- load -----------------------------------------------------------------------------------------
def _load(urls: list[str], offset: int, stop, out) -> None:
    """One load process: turns round-robin over `urls` until `stop`; (started, seconds, ok) each."""
    session, samples, n = requests.Session(), [], 0
    while not stop.is_set():
        user = 70_000_000 + (n + offset) % USERS
        text = ("/profile", f"/pref note b{offset}x{n}", "/history 2")[n % 3]
        body = {"update_id": 800_000_000 + offset * 10_000_000 + n,
                "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": user, "type": "private"},
                            "from": {"id": user, "is_bot": False, "first_name": "Bench"}, "text": text}}
        started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
        try:
            ok = session.post(f"{urls[n % len(urls)]}/telegram/webhook/", json=body, timeout=30,
                              headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 200
        except requests.RequestException:
            ok = False
        samples.append((started, time.monotonic() - started, ok))
        n += 1
    out.put(samples)


class Load:
    def __init__(self, urls: list[str], processes: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop_event, self.queue = context.Event(), context.Queue()
        self.processes = [context.Process(target=_load, args=(urls, i * 1000, self.stop_event, self.queue))
                          for i in range(processes)]
        for process in self.processes:
            process.start()

    def stop(self) -> list[tuple[float, float, bool]]:
        self.stop_event.set()
        samples = []
        for _ in self.processes:
            samples += self.queue.get(timeout=120)
        for process in self.processes:
            process.join(timeout=30)
        return samples


# --- one topology ---------------------------------------------------------------------------------
@dataclass
class Window:
    scenario: str
    fault: float
    resumed: float


@dataclass
class Bench:
    kind: str
    topology: Cluster | SentinelSet
    urls: list[str]
    windows: list[Window] = field(default_factory=list)

    def primary(self) -> int:
        if self.kind == "sentinel":
            return self.topology.primary()
        return sorted(self.topology.primaries())[0]  # the shard with the lowest port: any will do

    def replica_of(self, primary: int) -> int:
        replica = self.topology.replica_of(primary) if self.kind == "cluster" else None
        if replica is None:
            info = self.topology.client(primary).info("replication")
            (replica,) = [int(v["port"]) for v in info.values() if isinstance(v, dict) and "port" in v]
        return replica

    def fault(self, scenario: str) -> None:
        primary = self.primary()
        started = time.monotonic()
        if scenario == "replica down":
            replica = self.replica_of(primary)
            self.topology.kill(replica)
            time.sleep(REPLICA_DOWN_S)
            self.topology.restart(replica, replica_of=primary if self.kind == "sentinel" else None)
        elif scenario == "kill -9":
            self.topology.kill(primary)
            _until(lambda: self._promoted(primary), "a replica promoted")
            self.topology.restart(primary, replica_of=self.topology.primary() if self.kind == "sentinel" else None)
        else:
            if self.kind == "sentinel":
                self.topology.client(self.topology.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
            else:
                self.topology.client(self.replica_of(primary)).execute_command("CLUSTER", "FAILOVER")
            _until(lambda: self._promoted(primary), "a replica promoted")
        self.topology.wait_healthy(60)
        _until(lambda: all(_breaker(url) == "closed" for url in self.urls), "the breakers closed", 60)
        self.windows.append(Window(scenario, started, time.monotonic()))

    def _promoted(self, old: int) -> bool:
        try:
            if self.kind == "sentinel":
                return self.topology.primary() != old
            return self.topology.client(old).info("replication").get("role") != "master"
        except (redis.RedisError, OSError):
            return self.kind == "cluster" and len(self.topology.primaries()) == 3


def _breaker(url: str) -> str:
    try:
        return requests.get(f"{url}/healthz", timeout=5).json().get("breaker", "")
    except (requests.RequestException, ValueError):
        return ""


def _until(check, what: str, timeout: float = 30.0) -> None:
    wait_for(what, check, timeout, interval=0.05, error=BenchError)


def run_topology(kind: str, database: BenchDatabase, workdir: Path, failovers: int) -> tuple[Bench, list]:
    topology = (Cluster if kind == "cluster" else SentinelSet).start(workdir / kind)
    processes = []
    try:
        database.recreate()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
        env.update({"DATABASE_URL": database.url, "DJANGO_SETTINGS_MODULE": "healthagent.settings",
                    "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "bench-failover-secret-key-not-for-production-0123456789", "HEALTHAGENT_ENV_FILE": "",
                    "TELEGRAM_WEBHOOK_SECRET": SECRET, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                    # A load generator is one client sending many turns per user a minute: no turn rate.
                    "BOT_TURNS_PER_MINUTE": "1000000",
                    "NUTRITION_PROVIDER": "sample", "LOG_LEVEL": "WARNING", **topology.env,
                    # The replica confirmation as asked for (the report says which).
                    **{k: os.environ[k] for k in ("REDIS_WAIT_REPLICAS", "REDIS_WAIT_TIMEOUT_MS") if os.environ.get(k)}})
        manage(env, "migrate", "--no-input", "-v", "0")
        urls = []
        for name in "AB":
            process, url = launch_custom_gunicorn(f"failover-{kind}-{name}", env, workdir, workers=1, threads=1)
            processes.append(process)
            wait_ready(process, url)
            urls.append(url)
        bench = Bench(kind, topology, urls)
        load = Load(urls)
        try:
            time.sleep(GAP_S * 2)  # warm
            for scenario in ("kill -9", "manual"):
                for _ in range(failovers):
                    bench.fault(scenario)
                    time.sleep(GAP_S)
            bench.fault("replica down")
            time.sleep(GAP_S)
        finally:
            samples = load.stop()
        return bench, samples
    finally:
        for process in processes:
            process.stop()
        topology.stop()


# --- report ---------------------------------------------------------------------------------------
def rows(bench: Bench, samples: list[tuple[float, float, bool]]) -> list[str]:
    warm_until = min(w.fault for w in bench.windows) - GAP_S  # the first seconds warm the cache
    def window_of(started: float) -> Window | None:
        return next((w for w in bench.windows if w.fault <= started <= w.resumed), None)

    outside = [(s, ok) for started, s, ok in samples if started >= warm_until and window_of(started) is None]
    out_ok = [s for s, ok in outside if ok]
    lines = []
    for scenario in ("kill -9", "manual", "replica down"):
        windows = [w for w in bench.windows if w.scenario == scenario]
        during = [(s, ok) for started, s, ok in samples if (w := window_of(started)) and w.scenario == scenario]
        ok = [s for s, good in during if good]
        resumed = [w.resumed - w.fault for w in windows]
        name = {"kill -9": "kill -9 the primary", "manual": "SENTINEL FAILOVER" if bench.kind == "sentinel"
                else "CLUSTER FAILOVER", "replica down": f"replica down {REPLICA_DOWN_S:.0f} s"}[scenario]
        lines.append(
            f"| {bench.kind.title()} | {name} | {len(windows)} | {len(during)} | {len(during) - len(ok)} | "
            f"{_ms(ok, 50)} / {_ms(out_ok, 50)} | {_ms(ok, 99)} / {_ms(out_ok, 99)} | "
            f"{percentile(resumed, 50):.1f} s / {max(resumed):.1f} s |")
    lines.append(f"| {bench.kind.title()} | outside any fault | — | {len(outside)} | {len(outside) - len(out_ok)} | "
                 f"{_ms(out_ok, 50)} | {_ms(out_ok, 99)} | — |")
    return lines


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.0f} ms" if values else "—"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--failovers", type=int, default=3, help="of each kind, per topology")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/healthagent_bench")
    database = BenchDatabase(url)
    table = []
    with tempfile.TemporaryDirectory(prefix="healthagent-bench-failover-") as tmp:
        for kind in ("sentinel", "cluster"):
            bench, samples = run_topology(kind, database, Path(tmp), args.failovers)
            table += rows(bench, samples)
    replicas = os.environ.get("REDIS_WAIT_REPLICAS", "").strip() or "0"
    wait = ("off (REDIS_WAIT_REPLICAS=0, the default: the replay of recent invalidations keeps a promoted replica "
            "safe)" if replicas == "0" else f"{replicas} replica(s), REDIS_WAIT_TIMEOUT_MS "
            f"{os.environ.get('REDIS_WAIT_TIMEOUT_MS') or '100'} ms")
    lines = [
        BEGIN,
        "## A failover under webhook load (`bench/failover.py`)",
        "",
        "Two gunicorn processes (sync, one worker each) on a Sentinel set (1 primary, 1 replica, 3 sentinels) "
        "and on a Cluster (3 primaries, 1 replica each), both from `tools/redis_topologies.py` (failure "
        "detection after 1 s), with two load processes sending webhook turns back to back. Per topology "
        f"{args.failovers} × kill -9 of a primary (restarted at once as the new primary's replica), "
        f"{args.failovers} × a manual failover, and one replica killed for {REPLICA_DOWN_S:.0f} s. *During* = "
        "turns started between the fault and caching resumed (new primary answering with a replica in sync, "
        "both breakers closed); *lost* = no 200. Replica confirmation: " + wait + ".",
        "",
        "| topology | fault | faults | turns during | lost | p50 during / outside | p99 during / outside | "
        "caching resumed after (median / max) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *table,
        "",
        f"PostgreSQL {database.version()}, {_redis_version()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (shared). No turn is lost: while the cache is bypassed a turn reads the "
        "database. What it costs is latency while it is bypassed, and the time until caching resumes, "
        "which is bounded by how soon the new primary has a replica again (docs/OPERATIONS.md, \"Failover\").",
        END,
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        SECTION.write(section)


def _redis_version() -> str:
    import subprocess

    from tools.redis_topologies import REDIS_SERVER

    out = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True).stdout
    return "redis-server " + next((p.split("=")[1] for p in out.split() if p.startswith("v=")), "?")


if __name__ == "__main__":
    main()
