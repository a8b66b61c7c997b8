"""A slow language model beside everyone else's turns: the production server (gunicorn gthread, 2
workers × 32 threads) on PostgreSQL and Redis, a fake provider answering each call after 5 s, 50
users asking it at once — and meanwhile 50 other users sending turns that need no model. Once with
LLM_CONCURRENCY at its default and once unbounded (the control), side by side.

    BENCH_DATABASE_URL=postgres://…/db .venv/bin/python -m bench.agent_slow [--latency 5] [--write] [--before TREE]

`--before TREE` measures another code tree first, in the same run (e.g. `git archive main | tar -x -C TREE`).

The database must exist (it is migrated, and the benchmark's users are deleted at the end). Prints a
Markdown section; `--write` puts it into BENCHMARKS.md (where `make bench` keeps it).
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

from bench import sections, servers

BEGIN, END = "<!-- agent-slow: bench/agent_slow.py --write -->", "<!-- /agent-slow -->"
SECTION = sections.Section(BEGIN, END)
ROOT = Path(__file__).resolve().parents[1]


def _env(database_url: str, redis_url: str, llm_url: str, concurrency: int) -> dict[str, str]:
    from tools.fake_llm import TEST_LLM_KEY

    return servers.webhook_env(database_url, redis_url, NUTRITION_PROVIDER="sample", LLM_BASE_URL=llm_url,
                               LLM_API_KEY=TEST_LLM_KEY, LLM_MODEL="fake-model", LLM_TIMEOUT="8", LLM_MAX_RETRIES="0",
                               LLM_TURN_BUDGET="15", LLM_CONCURRENCY=str(concurrency))


def _turn(url: str, user: int, text: str, update_id: int) -> tuple[float, int, str]:
    return servers.post_text(url, user, text, update_id, timeout=60)


# Update ids new to the database in every run and round: an id it processed before (an earlier run on
# the same database) would be answered with the stored reply, and measure nothing.
_UPDATE_IDS = itertools.count(int(time.time() * 1000) % 10**12 * 10)


def _round(url: str, base: int, users: int) -> dict:
    """`users` agent questions at once, then (once they are in flight) `users` turns that need no model."""
    slow: list = [None] * users
    quick: list = [None] * users
    go = threading.Barrier(users)
    ids = [next(_UPDATE_IDS) for _ in range(2 * users)]

    def ask(i: int) -> None:
        go.wait()
        slow[i] = _turn(url, base + i, f"was soll ich heute abend essen, {i}?", ids[i])

    def plain(i: int) -> None:
        quick[i] = _turn(url, base + 5000 + i, "/today", ids[users + i])

    askers = [threading.Thread(target=ask, args=(i,)) for i in range(users)]
    for thread in askers:
        thread.start()
    time.sleep(1.0)  # the questions are waiting on the provider now (a benchmark, not a test)
    others = [threading.Thread(target=plain, args=(i,)) for i in range(users)]
    for thread in others:
        thread.start()
    for thread in askers + others:
        thread.join()
    quick_s = sorted(t for t, _, _ in quick)
    return {"quick_p50": statistics.median(quick_s), "quick_max": quick_s[-1],
            "quick_failed": sum(status != 200 for _, status, _ in quick),
            "slow_model": sum(status == 200 and "Antwort" in reply for _, status, reply in slow),
            "slow_rules": sum(status == 200 and "Antwort" not in reply for _, status, reply in slow),
            "slow_failed": sum(status != 200 for _, status, _ in slow)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--before", type=Path, help="a code tree to measure too, first (e.g. an export of main)")
    args = parser.parse_args(argv)
    database_url = os.environ["BENCH_DATABASE_URL"]

    from tools.fake_llm import FakeLLM, Scripted, text
    from tools.redis_server import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="bench-agent-slow-"))
    redis = RedisServer.start_new(workdir)
    fake = FakeLLM(lambda request: Scripted(200, json.dumps(text("Antwort: Gemüse.")).encode(), delay=args.latency))
    results = {}
    try:
        trees = [(f"{args.before}: ", args.before)] if args.before else []
        runs = [(f"{prefix}{name}", root, concurrency) for prefix, root in [*trees, ("" if not trees else "this tree: ", ROOT)]
                for name, concurrency in (("LLM_CONCURRENCY=4 (default)", 4), ("unbounded (control)", 1000))]
        for name, root, concurrency in runs:
            env = _env(database_url, redis.url, fake.url, concurrency)
            server, url = servers.serve_tree(f"gunicorn-{len(results)}", env, workdir, root=root)
            try:
                results[name] = _round(url, 900_000 + concurrency * 100 + len(results) * 100_000, args.users)
            finally:
                server.stop()
            redis.cli("FLUSHALL")
    finally:
        fake.close()
        redis.stop()
    section = _section(args, results)
    print(section)
    if args.write:
        SECTION.write(section)
    return 0


def _section(args: argparse.Namespace, results: dict) -> str:
    rows = [f"| {name} | {r['quick_p50']:.2f} | {r['quick_max']:.2f} | {r['quick_failed']} | {r['slow_model']} | "
            f"{r['slow_rules']} | {r['slow_failed']} |" for name, r in results.items()]
    return "\n".join([
        BEGIN,
        "## A slow model beside everyone else (`bench/agent_slow.py`)",
        "",
        f"gunicorn as deployed (gthread, 2 workers × 32 threads), PostgreSQL (a pool of 2 × cores + 5 connections "
        f"per worker), Redis; the fake provider answers each call after {args.latency:g} s. {args.users} users ask "
        f"the agent at once; a second later {args.users} other users send `/today` (no model).",
        "",
        "| setting | `/today` p50 s | `/today` max s | `/today` failed | agent answers | rules' answers | agent turns failed |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "A turn waits on the model outside its transaction, its database connection given back to the pool "
        "(healthagent/upstream.py), so it holds a worker thread only; LLM_CONCURRENCY bounds the turns that wait on "
        "it per process, the rest get the rules' reply at once. The unbounded row shows what the threads alone cost.",
        END,
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
