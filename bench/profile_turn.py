"""Where a warm text turn's CPU goes, beside the floor's: both through Django's whole WSGI handler
(every production middleware, no bench-only one), in one process, on the benchmark's PostgreSQL and
Redis. Not part of `make bench`: a tool for the hot path (BENCHMARKS.md, "What the profile shows").

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.profile_turn [--turns 2000] [--profile out.pstats]

It empties the database's tables and the Redis database it is given. Each round sends one warm free-text
turn of every user, then the floor's claim and INSERT for the same update (bench/floor.py); CPU is the
thread's (time.thread_time_ns), medians over rounds of the per-turn means.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import statistics
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "profile-only-secret-key-not-for-production-0123456789abcdef")
    os.environ.setdefault("TELEGRAM_WEBHOOK_SECRET", "profile-secret")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("BOT_TURNS_PER_MINUTE", "1000000")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["HEALTHAGENT_ENV_FILE"] = ""
    import django

    django.setup()


def _environ(path: str, body: bytes, secret: str) -> dict:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)), "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret,
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_turn")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--profile", help="write cProfile stats of our turns (pstats) here")
    parser.add_argument("--floor-profile", help="write cProfile stats of the floor's turns here")
    parser.add_argument("--shares", action="store_true", help="profile both and print where the time goes (JSON)")
    args = parser.parse_args(argv)
    _setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection

    from bench.loadgen import FLOOR_PATH, WEBHOOK_PATH
    from bench.workload import FIRST_USER_ID, telegram_update, Turn
    from django.core.cache import cache

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names(cursor) if not t.startswith("django_")]
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE")
    cache.clear()
    app = WSGIHandler()
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    texts = ("hi", "thanks!", "what's my bmi?", "how much do I weigh?", "feeling tired today", "ok")
    update_id = 1

    def send(path: str, update: dict) -> int:
        body = json.dumps(update, separators=(",", ":")).encode()
        status = []
        chunks = app(_environ(path, body, secret), lambda s, h: status.append(s))
        b"".join(chunks)
        if not status[0].startswith("200"):
            raise SystemExit(f"{path}: {status[0]}")
        return int(status[0][:3])

    users = [FIRST_USER_ID + i for i in range(args.users)]
    for user in users:  # cold: the first turn of each, then one warm-up turn
        for _ in range(2):
            send(WEBHOOK_PATH, telegram_update(Turn(user, "text", "hi"), update_id))
            update_id += 1
    ours, floor = [], []
    profiler = cProfile.Profile() if args.profile or args.shares else None
    floor_profiler = cProfile.Profile() if args.floor_profile or args.shares else None
    for r in range(args.rounds):
        updates = []
        for user in users:
            updates.append(telegram_update(Turn(user, "text", texts[(r + user) % len(texts)]), update_id))
            update_id += 1
        started = time.thread_time_ns()
        if profiler:
            profiler.enable()
        for update in updates:
            send(WEBHOOK_PATH, update)
        if profiler:
            profiler.disable()
        ours.append((time.thread_time_ns() - started) / len(updates) / 1000)
        started = time.thread_time_ns()
        if floor_profiler:
            floor_profiler.enable()
        for update in updates:
            send(FLOOR_PATH, update)
        if floor_profiler:
            floor_profiler.disable()
        floor.append((time.thread_time_ns() - started) / len(updates) / 1000)
    ratios = [a / b for a, b in zip(ours, floor)]
    summary = {"ours_us": round(statistics.median(ours), 1), "floor_us": round(statistics.median(floor), 1),
               "ratio": round(statistics.median(ratios), 3), "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
               "turns": len(users) * args.rounds, "profiled": bool(profiler)}
    if args.shares and profiler and floor_profiler:
        summary["ours_shares"], summary["floor_shares"] = shares(profiler), shares(floor_profiler)
        summary["ours_calls"] = calls(profiler) / summary["turns"]
        summary["floor_calls"] = calls(floor_profiler) / summary["turns"]
    print(json.dumps(summary))
    if args.profile and profiler:
        profiler.dump_stats(args.profile)
    if args.floor_profile and floor_profiler:
        floor_profiler.dump_stats(args.floor_profile)
    return 0


# Where a profiled function's own time is counted: by the file it is in.
GROUPS = (("django/", "Django"), ("psycopg", "psycopg"), ("redis/", "redis-py"), ("django_redis/", "redis-py"),
          ("hiredis", "redis-py"), ("/caching/", "the cache layer"), ("/conversations/", "the bot"),
          ("/memory/", "the bot"), ("/nutrition/", "the bot"), ("/healthagent/", "the project's middleware and logging"),
          ("/bench/", "the floor's view"), ("logging/", "logging"), ("json", "JSON"), ("whitenoise", "Django"),
          ("axes", "Django"), ("asgiref", "Django"))


def _group(filename: str, function: str) -> str:
    if filename == "~":
        if "socket" in function or "poll" in function or "select" in function:
            return "sockets (send, receive, wait)"
        if "orjson" in function or "json" in function:
            return "JSON"
        return "built-ins"
    for needle, name in GROUPS:
        if needle in filename:
            return name
    return "other (stdlib)"


def shares(profiler: cProfile.Profile) -> dict[str, float]:
    import pstats

    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        group = _group(filename, function)
        totals[group] = totals.get(group, 0.0) + own
    whole = sum(totals.values()) or 1.0
    return {k: round(v / whole, 4) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])} | {"_seconds": round(whole, 3)}


def calls(profiler: cProfile.Profile) -> int:
    import pstats

    return sum(stat[1] for stat in pstats.Stats(profiler).stats.values())  # type: ignore[attr-defined]


if __name__ == "__main__":
    raise SystemExit(main())
