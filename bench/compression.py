"""Does compressing cached values pay (cache OPTIONS COMPRESSOR, caching/backend/serializer.py)? A small
measurement of its own, not part of `make bench`:

    .venv/bin/python -m bench.compression [--reps 9] [--calls 2000] [--write]

Builds the benchmark user as bench/hitpath_setup.py does (a full 50-message history through the
webhook's code path; here on an in-memory SQLite database and the embedded Redis), takes the bytes
of its history entry, and on a redis-server of its own (a free loopback port) compares the entry
stored as JSON, zstd and lz4 (django-redis's compressor classes): bytes stored, MEMORY USAGE, and
the hit path — GET + caching.backend.serializer.loads — side by side in shuffled repetitions, as a ratio to
the uncompressed read within each repetition (medians over repetitions). Prints JSON; --write
puts the summary into BENCHMARKS.md between the compression markers.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench import sections

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- compression: bench/compression.py --write -->", "<!-- /compression -->"
SECTION = sections.Section(BEGIN, END)
FORMATS = {
    "json": None,
    "zstd": "django_redis.compressors.zstd.ZStdCompressor",
    "lz4": "django_redis.compressors.lz4.Lz4Compressor",
}


def history_entry() -> bytes:
    os.environ.update(DATABASE_URL="sqlite://:memory:", NUTRITION_PROVIDER="sample", DJANGO_DEBUG="false")
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-compression-secret-key-not-for-production-0123456789")
    os.environ.setdefault("TELEGRAM_WEBHOOK_SECRET", "bench-compression")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from caching.keys import conversation_history_key
    from conversations.selectors import HISTORY_MAX, get_conversation_history

    from . import hitpath_setup

    call_command("migrate", verbosity=0)
    hitpath_setup._build_user(itertools.count(1))
    get_conversation_history(user_id=hitpath_setup.USER_ID, limit=HISTORY_MAX)  # fills the entry
    rkey = cache.make_and_validate_key(conversation_history_key(hitpath_setup.USER_ID))
    from caching.backend import serializer

    raw = serializer.uncompressed(cache.guarded(lambda r: r.get(rkey)))  # the JSON, whatever COMPRESSOR says
    assert raw[:1] == b"[", "the history entry is not cached as JSON"
    return raw


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """Debian's redis-server on a free port (tools/redis_server.py), stopped afterwards."""
    from tools.redis_server import RedisServer, free_port, system_redis_server

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(free_port(), Path(tmp), binary=system_redis_server() or "redis-server")
        server.start()
        try:
            yield server.port
        finally:
            server.stop()


def timed(call: Callable[[], object], calls: int) -> list[float]:
    for _ in range(20):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        started = clock()
        call()
        samples.append((clock() - started) / 1000)
    return samples


def measure(entry: bytes, port: int, *, reps: int, calls: int, seed: int) -> dict:
    import orjson
    import redis

    from caching.backend import serializer
    from caching.backend import stats

    from .percentile import median, ratios_to, summarize

    stats.stop_flusher()  # its thread would build a backend, which sets the process's compressor
    client = redis.Redis(port=port)
    value = orjson.loads(entry)
    stored, reads, writes = {}, {}, {}
    for name, path in FORMATS.items():
        serializer.use_compressor(path, {})
        blob = serializer.dumps(value)
        assert (blob[:1] == b"\x03") == (path is not None), name
        client.set(f"history:{name}", blob)
        stored[name] = {"bytes": len(blob), "memory_usage": client.memory_usage(f"history:{name}", samples=0)}

        def read(name: str = name, path: str | None = path) -> None:
            serializer.use_compressor(path, {})
            key = f"history:{name}"
            return lambda: serializer.loads(client.get(key))

        def write(path: str | None = path) -> None:
            serializer.use_compressor(path, {})
            return lambda: serializer.dumps(value)

        reads[name], writes[name] = read, write
    rng = random.Random(seed)
    results = {}
    for label, variants in (("hit", reads), ("encode", writes)):
        samples: dict[str, list[float]] = {name: [] for name in variants}
        per_rep = []
        for _ in range(reps):
            order = list(variants)
            rng.shuffle(order)
            medians = {}
            for name in order:
                batch = timed(variants[name](), calls)
                samples[name] += batch
                medians[name] = median(batch)
            per_rep.append(medians)
        ratios = ratios_to("json", per_rep)
        results[label] = {name: {**summarize(samples[name]), "ratio": ratios[name]} for name in variants}
    serializer.use_compressor(None, {})
    return {"entry_json_bytes": len(entry), "stored": stored, **results, "reps": reps, "calls": calls}


def render(result: dict) -> str:
    stored, hit, encode = result["stored"], result["hit"], result["encode"]
    plain = stored["json"]["memory_usage"]
    lines = [
        BEGIN,
        "## Compression of a history entry (`COMPRESSOR`)",
        "",
        f"Measured by `bench/compression.py` (not part of `make bench`; run it again with `--write`): "
        f"the benchmark user's 50-message history entry ({result['entry_json_bytes']:,} bytes of JSON) "
        f"stored as JSON and through django-redis's zstd and lz4 compressors; the hit path is one GET + "
        f"`caching.backend.serializer.loads` on a local redis-server, {result['reps']} shuffled repetitions of "
        f"{result['calls']} calls, ratio to the JSON read within each repetition (median, range).",
        "",
        "| format | bytes stored | MEMORY USAGE | hit p50 µs | hit × JSON | encode p50 µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in FORMATS:
        ratio = hit[name]["ratio"]
        lines.append(
            f"| {name} | {stored[name]['bytes']:,} | {stored[name]['memory_usage']:,} "
            f"({stored[name]['memory_usage'] / plain:.0%}) | {hit[name]['p50']:.1f} | "
            f"{ratio['median']:.2f}× ({ratio['min']:.2f}–{ratio['max']:.2f}) | {encode[name]['p50']:.1f} |"
        )
    lines += ["", result.get("decision", ""), END]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--decision", default="", help="the conclusion line written under the table")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args(argv)
    entry = history_entry()
    with redis_server() as port:
        result = measure(entry, port, reps=args.reps, calls=args.calls, seed=args.seed)
    result["decision"] = args.decision
    json.dump(result, sys.stdout, indent=1)
    print()
    if args.write:
        SECTION.write(render(result))


if __name__ == "__main__":
    main()
