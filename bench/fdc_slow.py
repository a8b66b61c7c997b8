"""A slow FDC beside everyone else's turns, cache off: the production server (gunicorn gthread, 2
workers × 32 threads) on PostgreSQL and Redis, the fake FDC answering every search after 1 s, and
for each code tree given (`--before ROOT`: e.g. an export of main; this checkout always) two phases
of the same length: `--quick` users sending `/today` one after another with nothing else running,
then the same with `--slow` users asking `/food <a new food>` one after another (each a lookup in
the slow FDC). Other users' `/today` latency and throughput, and what the food askers got.

    git archive main | tar -x -C /tmp/before
    BENCH_DATABASE_URL=postgres://…/db .venv/bin/python -m bench.fdc_slow --before /tmp/before

The database must exist (it is migrated). Prints JSON and a Markdown table; BENCHMARKS.md is not
written (`make bench` owns it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench import servers

ROOT = Path(__file__).resolve().parents[1]


def _env(database_url: str, redis_url: str, fdc_url: str) -> dict[str, str]:
    return servers.webhook_env(database_url, redis_url, ENABLE_CACHE="false", NUTRITION_PROVIDER="usda",
                               USDA_API_KEY="bench-key", USDA_API_URL=fdc_url)


def _turn(url: str, user: int, text: str, update_id: int) -> tuple[float, int, str]:
    return servers.post_text(url, user, text, update_id, timeout=30)


def _phase(url: str, ids: itertools.count, *, quick: int, slow: int, seconds: float, base: int) -> dict:
    stop = threading.Event()
    quick_results: list[tuple[float, int, str]] = []
    slow_results: list[tuple[float, int, str]] = []
    words = itertools.count()

    def loop(user: int, text: object, into: list) -> None:
        while not stop.is_set():
            into.append(_turn(url, user, text() if callable(text) else str(text), next(ids)))

    threads = [threading.Thread(target=loop, args=(base + 5000 + i, "/today", quick_results)) for i in range(quick)]
    threads += [threading.Thread(target=loop, args=(base + i, lambda: f"/food slowfood {_letters(next(words))}",
                                                    slow_results)) for i in range(slow)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)  # a benchmark's measuring window, not a test's synchronisation
    stop.set()
    for thread in threads:
        thread.join()
    times = sorted(t for t, status, _ in quick_results if status == 200)
    return {"quick_turns": len(quick_results), "quick_per_s": round(len(times) / seconds, 1),
            "quick_p50_ms": round(1000 * statistics.median(times), 1) if times else None,
            "quick_p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 1) if times else None,
            "quick_max_ms": round(1000 * times[-1], 1) if times else None,
            "quick_failed": sum(status != 200 for _, status, _ in quick_results),
            "slow_turns": len(slow_results),
            "slow_answered_food": sum(status == 200 and not _told_slow(reply) for _, status, reply in slow_results),
            "slow_told_slow": sum(status == 200 and _told_slow(reply) for _, status, reply in slow_results),
            "slow_failed": sum(status != 200 for _, status, _ in slow_results)}


def _told_slow(reply: str) -> bool:
    return "food database is slow" in reply


def _letters(n: int) -> str:
    """A food nobody asked before (queries drop digits): n in base 26."""
    word = ""
    for _ in range(6):
        n, digit = divmod(n, 26)
        word += chr(ord("a") + digit)
    return word


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="a code tree to measure first (e.g. an export of main)")
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    parser.add_argument("--quick", type=int, default=8, help="users sending /today one after another")
    parser.add_argument("--slow", type=int, default=40, help="users asking new foods one after another")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for both servers (e.g. DATABASE_POOL_MAX_SIZE=64, to see what the pool costs)")
    parser.add_argument("--no-after", action="store_true", help="measure --before only")
    args = parser.parse_args(argv)
    database_url = os.environ["BENCH_DATABASE_URL"]

    from tools.redis_server import RedisServer

    from .fake_fdc import FakeFDC

    workdir = Path(tempfile.mkdtemp(prefix="bench-fdc-slow-"))
    redis = RedisServer.start_new(workdir)
    fdc = FakeFDC(latency=args.latency_ms / 1000)
    ids = itertools.count(int(time.time() * 1000) % 10**12)
    results: dict[str, dict] = {}
    trees = ([("before", args.before)] if args.before else []) + ([] if args.no_after else [("after", ROOT)])
    extra = dict(setting.split("=", 1) for setting in args.env)
    try:
        for name, root in trees:
            env = {**_env(database_url, redis.url, fdc.url), **extra}
            server, url = servers.serve_tree(f"gunicorn-{name}", env, workdir, root=root)
            try:
                for i in range(args.quick):  # the /today users exist before the clock starts
                    _turn(url, 800_000 + 5000 + i, "/start", next(ids))
                results[f"{name}, FDC idle"] = _phase(url, ids, quick=args.quick, slow=0, seconds=args.seconds,
                                                      base=800_000)
                results[f"{name}, FDC slow"] = _phase(url, ids, quick=args.quick, slow=args.slow,
                                                      seconds=args.seconds, base=800_000)
            finally:
                server.stop()
            redis.cli("FLUSHALL")
    finally:
        fdc.close()
        redis.stop()
    print(json.dumps(results, indent=1))
    print(f"\nSettings: {extra or 'as shipped'}. {args.quick} users send /today one after another; with FDC slow, {args.slow} more ask new foods "
          f"(FDC answers after {args.latency_ms:g} ms, cache off). {args.seconds:g} s each.\n")
    print("| tree, FDC | /today per s | p50 ms | p95 ms | max ms | failed | food turns | answered | told slow | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['quick_per_s']} | {r['quick_p50_ms']} | {r['quick_p95_ms']} | {r['quick_max_ms']} | "
              f"{r['quick_failed']} | {r['slow_turns']} | {r['slow_answered_food']} | {r['slow_told_slow']} | "
              f"{r['slow_failed']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
