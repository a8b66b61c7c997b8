"""The workload generator's driver: wrk (C, epoll) replaying a request file through bench/replay.lua.

wrk is closed-loop: `connections` requests in flight at all times, each connection sending its next
request when the previous answer arrived. One wrk thread drives them all; its CPU time (from the
kernel's rusage of the wrk process) is reported beside the server's, to show it is not the
bottleneck.
"""

from __future__ import annotations

import http.client
import json
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import percentile
from .cpu import cpu_seconds, machine_cpu_seconds, process_tree
from .servers import BenchError
from .workload import Turn, request_lines

LUA = Path(__file__).with_name("replay.lua")
WEBHOOK_PATH = "/telegram/webhook/"
FLOOR_PATH = "/bench/floor/"  # bench/floor.py, routed by bench/urls.py


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`; "
                         "`make bench` installs it itself when run as root on Debian/Ubuntu")
    return found


def wrk_version() -> str:
    done = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].split(" [")[0].removeprefix("wrk ")


def write_requests(path: Path, batch: list[Turn], *, first_update_id: int, cold: list[str] | None = None) -> Path:
    with open(path, "w") as out:
        for line in request_lines(batch, first_update_id=first_update_id, cold=cold):
            out.write(line + "\n")
    return path


@dataclass
class Run:
    """One wrk replay, parsed: what bench/replay.lua printed, plus CPU figures."""

    raw: dict
    wall_seconds: float
    wrk_cpu_seconds: float
    server_cpu_seconds: float
    machine_cpu_seconds: float
    postgres_cpu_seconds: float | None = None

    @property
    def complete(self) -> bool:
        return self.raw["answered"] == self.raw["lines"]

    @property
    def turns(self) -> int:
        return self.raw["answered"]

    @property
    def elapsed(self) -> float:
        """First request sent to last answer received (wrk's own clock, CLOCK_MONOTONIC)."""
        if self.complete:
            return self.raw["last_answer"] - self.raw["first_sent"]
        return self.raw["wrk"]["duration_us"] / 1e6

    @property
    def throughput(self) -> float:
        return self.turns / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def errors(self) -> int:
        """What a user (Telegram) would see fail: non-2xx answers and socket errors, and lines never answered."""
        wrk_errors = self.raw["wrk"]["errors"]
        bad = sum(v for k, v in self.raw["tally"].items() if k.endswith(" bad"))
        socket = wrk_errors["connect"] + wrk_errors["read"] + wrk_errors["write"] + wrk_errors["timeout"]
        return bad + socket + (self.raw["lines"] - self.raw["answered"])

    def latency_ms(self, name: str) -> float:
        return self.raw["latency_us"][name] / 1000

    def by_kind(self) -> dict[str, dict[str, float]]:
        """{kind: {"turns", "sql", "selects", "server_ms", "cpu_ms", "errors"}} per turn, from the
        X-Bench-* headers."""
        return kind_table(self.raw["tally"])

    def summary(self) -> dict:
        kinds = self.by_kind()
        # Without the counting middleware (bench/settings.py, BENCH_COUNTING=0) no turn reports its counts.
        counted = sum(k["turns"] for k in kinds.values()) if all(k["sql"] is not None for k in kinds.values()) else 0
        return {
            "steady_kinds": kind_table(self.raw["tally"], prefix="steady "),
            # Turns sent while their user's (or food's) first turn was still in flight: cold starts.
            "overlapping_first": kind_table(self.raw["tally"], prefix="overlap "),
            "cache_reads": cache_table(self.raw["tally"]),
            "turns": self.turns, "lines": self.raw["lines"], "complete": self.complete,
            "elapsed_s": self.elapsed, "throughput": self.throughput, "errors": self.errors,
            "statuses": {k.removeprefix("status "): v for k, v in self.raw["tally"].items() if k.startswith("status ")},
            "socket_errors": self.raw["wrk"]["errors"],
            "latency_ms": {q: self.latency_ms(q) for q in ("p50", "p90", "p95", "p99", "p999", "max", "mean")},
            "sql_per_turn": sum(k["sql"] * k["turns"] for k in kinds.values()) / counted if counted else None,
            "selects_per_turn": sum(k["selects"] * k["turns"] for k in kinds.values()) / counted if counted else None,
            "django_cpu_ms_per_turn": sum(k["cpu_ms"] * k["turns"] for k in kinds.values()) / counted if counted else None,
            "server_cpu_ms_per_turn": 1000 * self.server_cpu_seconds / self.turns if self.turns else None,
            "postgres_cpu_ms_per_turn": (1000 * self.postgres_cpu_seconds / self.turns
                                         if self.turns and self.postgres_cpu_seconds is not None else None),
            "kinds": kinds,
            "cpu": {
                "wall_s": self.wall_seconds, "wrk_s": self.wrk_cpu_seconds, "server_s": self.server_cpu_seconds,
                "postgres_s": self.postgres_cpu_seconds,
                "machine_s": self.machine_cpu_seconds,
                "wrk_share_of_machine": self.wrk_cpu_seconds / self.machine_cpu_seconds if self.machine_cpu_seconds else None,
                "server_share_of_machine": self.server_cpu_seconds / self.machine_cpu_seconds if self.machine_cpu_seconds else None,
            },
        }


def kind_table(tally: dict[str, float], *, prefix: str = "") -> dict[str, dict[str, float]]:
    """Per-turn figures per kind; with `prefix="steady "`, of the steady-state turns alone."""
    kinds: dict[str, dict[str, float]] = {}
    for key, value in tally.items():
        if prefix:
            if not key.startswith(prefix):
                continue
            key = key.removeprefix(prefix)
        elif key.startswith(("cache ", "steady ", "overlap ")):
            continue
        kind, _, field = key.rpartition(" ")
        if kind and kind != "status":
            kinds.setdefault(kind, {})[field] = value
    table = {}
    for kind, f in sorted(kinds.items()):
        n, counted = f.get("n", 0), f.get("counted", 0)
        table[kind] = {
            "turns": n,
            "sql": f.get("sql", 0) / counted if counted else None,
            "selects": f.get("select", 0) / counted if counted else None,
            "server_ms": f.get("us", 0) / n / 1000 if n else None,
            "cpu_ms": f.get("cpu", 0) / n / 1000 if n else None,
            "errors": f.get("bad", 0),
            "redis": f["redis"] / counted if counted and "redis" in f else None,
        }
    return table


def cache_table(tally: dict[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    """{"steady"|"cold": {namespace: {"hits", "misses", "hit_rate"}}}: the reads of each turn, counted
    by the server (X-Bench-Cache), split by whether they were a cold start (bench/workload.cold_flags)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in tally.items():
        if key.startswith("cache "):
            _, bucket, namespace, field = key.split(" ")
            table.setdefault(bucket, {}).setdefault(namespace, {"hits": 0, "misses": 0})[field] = value
    for namespaces in table.values():
        for counts in namespaces.values():
            reads = counts["hits"] + counts["misses"]
            counts["hit_rate"] = counts["hits"] / reads if reads else None
    return table


def replay(base_url: str, request_file: Path, *, secret: str, connections: int, server_pid: int,
           timeout_s: float, database=None, path: str = WEBHOOK_PATH) -> Run:
    """Replay `request_file` once against `base_url`; at most `timeout_s` seconds. With `database`
    (servers.BenchDatabase), the CPU of its PostgreSQL backends is measured too."""
    command = [wrk_binary(), "-t1", f"-c{connections}", f"-d{int(timeout_s)}s", "--timeout", "30s",
               "-s", str(LUA), base_url, "--", str(request_file), secret, path]
    server_pids = process_tree(server_pid)
    # RUSAGE_CHILDREN grows by the time of each child once it is reaped; gunicorn and the fake FDC
    # are still running, so around one replay the growth is wrk's own CPU time.
    children_before = _reaped_children_cpu()
    pg_before = database.backend_cpu() if database is not None else {}
    server_before, machine_before, started = cpu_seconds(server_pids), machine_cpu_seconds(), time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()  # wrk exits by itself: replay.lua interrupts it after the last answer
    wall = time.monotonic() - started
    server_after, machine_after = cpu_seconds(server_pids), machine_cpu_seconds()
    usage = _reaped_children_cpu() - children_before
    pg_after = database.backend_cpu() if database is not None else {}
    # A backend that started during the run counts from zero; one that ended is lost (rare: a pool).
    pg_cpu = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items()) if pg_after else None
    line = next((l for l in out.decode().splitlines() if l.startswith("BENCH-JSON ")), None)
    if process.returncode or line is None:
        raise BenchError(f"wrk failed (exit {process.returncode}): {err.decode()[-2000:]}{out.decode()[-2000:]}")
    return Run(json.loads(line.removeprefix("BENCH-JSON ")), wall, usage, server_after - server_before,
               machine_after - machine_before, pg_cpu)


def lockstep(urls: dict[str, str], request_file: Path, *, secret: str) -> dict[str, dict]:
    """Replay `request_file` one turn at a time against every server in `urls`, in lockstep: turn i
    goes to each server in turn (the order alternating), so each pair of figures is taken at the
    same moment of a noisy machine. Latency is measured here (http.client, keep-alive): the same
    client cost is in every figure."""
    clients = {name: http.client.HTTPConnection(urlsplit(url).netloc, timeout=60) for name, url in urls.items()}
    latencies: dict[str, list[float]] = {name: [] for name in urls}
    failed = dict.fromkeys(urls, 0)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    with open(request_file) as lines:
        for i, line in enumerate(lines):
            kind, _cold, body = line.rstrip("\n").split("\t", 2)
            for name in (list(urls) if i % 2 == 0 else list(reversed(urls))):
                started = time.perf_counter()
                try:
                    clients[name].request("POST", WEBHOOK_PATH, body=body, headers={**headers, "X-Bench-Kind": kind})
                    response = clients[name].getresponse()
                    response.read()
                    ok = 200 <= response.status < 300
                except (OSError, http.client.HTTPException):
                    clients[name].close()
                    ok = False
                latencies[name].append((time.perf_counter() - started) * 1000)
                failed[name] += not ok
    for client in clients.values():
        client.close()
    return {name: {"turns": len(latencies[name]), "errors": failed[name],
                   "latency_ms": percentile.summarize(latencies[name], (50, 90, 95, 99))} for name in urls}


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def merge(runs: list[dict]) -> dict:
    """Median and range over repetitions of every number in `summary()` that matters in the tables."""
    def figures(path: tuple[str, ...]) -> list[float]:
        values = []
        for run in runs:
            value = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, (int, float)):
                values.append(value)
        return values

    paths = [("throughput",), ("errors",), ("sql_per_turn",), ("selects_per_turn",), ("django_cpu_ms_per_turn",),
             ("server_cpu_ms_per_turn",), ("postgres_cpu_ms_per_turn",), ("fdc_calls",), ("fdc_calls_per_turn",),
             *[("light", "latency_ms", q) for q in ("p50", "p95", "p99")],
             *[("latency_ms", q) for q in ("p50", "p95", "p99")],
             ("cpu", "wrk_share_of_machine"), ("cpu", "server_share_of_machine"),
             *[("cache_reads", "steady", ns, "hit_rate") for ns in ("user_memory", "conversation_history", "usda")],
             *[("cache_reads", "cold", ns, "hit_rate") for ns in ("user_memory", "conversation_history", "usda")]]
    merged = {}
    for path in paths:
        values = figures(path)
        if values:
            merged[".".join(path)] = percentile.spread(values)
    return merged
