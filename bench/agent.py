"""What the agent-response cache saves: a cached answer beside a model call (a fake provider with a
realistic latency), and the `agent` namespace's hit rate, model calls and tokens on a workload of
repeated questions — the same workload once with the cache and once without, side by side.

    .venv/bin/python -m bench.agent [--latency 0.8] [--asks 3000] [--write]

Runs in-process against a throwaway Redis (tools/redis_server.py) and a throwaway SQLite database,
with the offline sample food data and the fake OpenAI-compatible provider of tools/fake_llm.py.
Prints a Markdown section; `--write` puts it into BENCHMARKS.md (where `make bench` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench import sections

BEGIN, END = "<!-- agent: bench/agent.py --write -->", "<!-- /agent -->"
SECTION = sections.Section(BEGIN, END)
FOODS = ("banana", "apple", "egg", "rice", "oats", "milk", "bread", "butter", "chicken", "salmon", "yogurt",
         "cheese", "potato", "pasta", "orange", "avocado", "tofu", "lentils", "broccoli", "honey")


def _responder(latency: float):
    from tools.fake_llm import Scripted, calls, last, text, tool_results, user_text

    def respond(request: dict) -> Scripted:
        tokens_in = len(json.dumps(request)) // 4  # about 4 characters a token
        question = user_text(request)
        if last(request)["role"] == "user":
            tool = (("lookup_food", {"query": question.split()[-1].rstrip("?")}) if question.startswith("calories")
                    else ("read_profile", {}) if "heavy" in question else ("read_diary", {"day": "today"}))
            body = calls(tool, tokens_in=tokens_in, tokens_out=25)
        else:
            answer = f"Here is what I found: {json.dumps(tool_results(request))[:200]}"
            body = text(answer, tokens_in=tokens_in, tokens_out=len(answer) // 4)
        return Scripted(200, json.dumps(body).encode(), delay=latency)

    return respond


def _questions() -> list[str]:
    """The pool, most asked first: food facts any user may ask, and questions about one's own data."""
    pool = []
    for i, food in enumerate(FOODS):
        pool.append(f"calories in {food}?")
        if i < 10:
            pool.append(f"how heavy am I right now{'?' * (i % 3 + 1)}" if i < 5 else f"what have I eaten so far {i}?")
    return pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.8, help="seconds the fake provider takes per call")
    parser.add_argument("--reps", type=int, default=15, help="cached answers beside model calls")
    parser.add_argument("--asks", type=int, default=3000, help="questions in the workload")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args(argv)

    from tools.fake_llm import TEST_LLM_KEY, FakeLLM
    from tools.redis_server import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    redis = RedisServer.start_new(workdir)
    fake = FakeLLM(_responder(args.latency))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "healthagent.settings", "HEALTHAGENT_ENV_FILE": "", "DJANGO_DEBUG": "true",
        "REDIS_URL": redis.url, "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}", "NUTRITION_PROVIDER": "sample",
        "LLM_BASE_URL": fake.url, "LLM_API_KEY": TEST_LLM_KEY, "LLM_MODEL": "fake-model", "LOG_LEVEL": "WARNING",
        "LLM_DAILY_TOKENS": str(10**9), "LLM_TIMEOUT": str(args.latency + 5), "LLM_TURN_BUDGET": str(4 * args.latency + 10),
    })
    try:
        return _run(args, fake, redis)
    finally:
        fake.close()
        redis.stop()


def _run(args: argparse.Namespace, fake, redis) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from agent import answering
    from caching.backend import stats
    from memory import services as memory_services
    from memory.models import Profile
    from memory.selectors import load_user_memory

    users = list(range(1, args.users + 1))
    Profile.objects.bulk_create([Profile(telegram_id=u, name="", weight_kg=60 + u % 40) for u in users])

    def ask(user: int, question: str) -> object:
        memory = load_user_memory(user_id=user) or {}
        return answering.answer(user_id=user, memory=memory, history=(), tz=None, text=question)

    # 1. A cached answer beside a model call: each question asked twice, the second time a hit.
    miss_ms, hit_ms = {"shared": [], "own": []}, {"shared": [], "own": []}
    for rep in range(args.reps):
        for kind, question in (("shared", f"calories in {FOODS[rep % len(FOODS)]} {rep}?"),
                               ("own", f"how heavy am I {rep}?")):
            for times in (miss_ms, hit_ms):
                started = time.perf_counter()
                assert ask(1 + rep, question) is not None
                times[kind].append((time.perf_counter() - started) * 1000)

    # 2. The workload, with the cache and without: Zipf(1.0) over questions and users, seed 1; 5 % of the
    # asks follow a change of the asker's weight (a context change: their own answers must be asked again).
    fake.responder = _responder(0.0)
    pool = _questions()
    rng = random.Random(1)
    q_weights = [1 / (i + 1) for i in range(len(pool))]
    u_weights = [1 / (i + 1) for i in range(len(users))]
    plan = [(rng.choices(users, u_weights)[0], rng.choices(pool, q_weights)[0], rng.random() < 0.05)
            for _ in range(args.asks)]
    figures = {}
    for variant in ("cache", "no cache"):
        if variant == "no cache":
            answering.answer_lookup = lambda keys: None
            answering.answer_single_flight = lambda *, compute, **kwargs: (compute()[0], True)
        for namespace_counts in stats._counts.values():
            namespace_counts[:] = [0] * len(namespace_counts)
        calls_before = len(fake.requests)
        for n, (user, question, change) in enumerate(plan):
            if change:
                memory_services.profile_update(user_id=user, field="weight_kg", raw_value=str(50 + n % 50))
            ask(user, f"{question} " if variant == "no cache" else question)
        counts = stats.local_counts()["agent"]
        figures[variant] = {"calls": len(fake.requests) - calls_before, "tokens_in": counts["tokens_in"],
                            "tokens_out": counts["tokens_out"], "hits": counts["hits"], "misses": counts["misses"]}
    section = _section(args, miss_ms, hit_ms, figures, len(pool))
    print(section)
    if args.write:
        SECTION.write(section)
    return 0


def _section(args, miss_ms, hit_ms, figures, questions: int) -> str:
    cache, none = figures["cache"], figures["no cache"]
    saved_calls = 1 - cache["calls"] / none["calls"]
    tokens_cache, tokens_none = cache["tokens_in"] + cache["tokens_out"], none["tokens_in"] + none["tokens_out"]
    hit_rate = cache["hits"] / (cache["hits"] + cache["misses"])
    rows = [f"| {kind} | {statistics.median(miss_ms[kind]):,.0f} | {statistics.median(hit_ms[kind]):,.1f} | "
            f"{statistics.median(miss_ms[kind]) / statistics.median(hit_ms[kind]):,.0f}× |" for kind in ("shared", "own")]
    return "\n".join([
        BEGIN,
        "## The agent's answers: cached beside a model call (`bench/agent.py`)",
        "",
        f"In-process, a throwaway Redis and SQLite, the offline sample foods, the fake OpenAI-compatible provider "
        f"(tools/fake_llm.py) answering each call after {args.latency:g} s. A question the rules do not understand "
        f"costs two model calls (a tool call, then the answer). Medians of {args.reps} questions each, asked twice.",
        "",
        "| answer | model call(s), ms | cached, ms | saved |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "(shared: a context-free question, one key for all users; own: one that read the profile, keyed by its version.)",
        "",
        f"Workload: {args.asks} questions from {args.users} users (Zipf 1.0) over {questions} questions (Zipf 1.0: "
        "food facts and questions about one's own weight and diary), 5 % of them right after the asker's weight "
        "changed; run once with the cache and once without, the same plan, seed 1.",
        "",
        "| | with the cache | without | saved |",
        "|---|---:|---:|---:|",
        f"| model calls | {cache['calls']:,} | {none['calls']:,} | {saved_calls:.0%} |",
        f"| tokens (in + out) | {tokens_cache:,} | {tokens_none:,} | {1 - tokens_cache / tokens_none:.0%} |",
        f"| `agent` hit rate | {hit_rate:.1%} | – | |",
        "",
        "The design expected 20–30 % of the cost of repeated questions saved; how much a deployment saves is its "
        "own mix of shared and personal questions and how often the context they read changes.",
        END,
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
