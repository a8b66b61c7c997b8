"""Parts 1 and 3 of the benchmark, in one Django process: what a cache hit costs, per namespace, beside
raw redis-py and its peers, and what the per-namespace stats add to it.

    python -m bench.hitpath --reps 9 --calls 2000 --fdc-latency-ms 150   (prints JSON; bench.run runs it)

Every variant reads the same entry of one realistic user (profile, preferences and a full 50-message
history, built through the webhook's own code path) or one FDC answer. Repetitions interleave the
variants in a shuffled order, so drift on a shared machine lands on all of them alike; each figure
is the median over repetitions of a ratio taken within one repetition (bench/percentile.py), whose
calls come in short rounds of every variant (`measure`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from typing import Any

import django

from .variants import RAW, Variant, both, stats_off

PAIR_BATCH = 25  # calls per batch in the stats on/off comparison


ROUND_CALLS = 5  # calls per variant per round; every interleaved variant runs in each round of a repetition


def time_batch(variant: Variant, calls: int, *, untimed: int = 20, collect: bool = True) -> list[float]:
    """Microseconds per call for `calls` calls (of them the variant's share), after a few untimed ones."""
    n = max(1, int(calls * variant.calls_share))
    return _timed_calls(variant, n, untimed=min(untimed, max(1, n // 10)), collect=collect)


def _timed_calls(variant: Variant, n: int, *, untimed: int, collect: bool) -> list[float]:
    samples = []
    with variant.context():
        for _ in range(min(untimed, n)):
            variant.call()
        if collect:
            gc.collect()
        clock = time.perf_counter_ns
        call = variant.call
        for _ in range(n):
            started = clock()
            call()
            samples.append((clock() - started) / 1000)
    return samples


def measure(variants: dict[str, Variant], *, reps: int, calls: int, baseline: str, seed: int) -> dict:
    """Each repetition is `calls // ROUND_CALLS` rounds; a round runs every variant's next few calls,
    in a new shuffled order. A slow spell of the shared machine (a neighbour's burst, a vCPU that
    sleeps) lasts longer than a round, so it lands on every variant alike instead of on whichever
    ran its whole batch then: with one batch of `calls` per variant, a repetition's ratios swung
    from 0.4× to 3× on an idle machine."""
    from .percentile import median, ratios_to, summarize

    samples: dict[str, list[float]] = {name: [] for name in variants}
    per_rep = []
    rng = random.Random(seed)
    rounds = max(1, calls // ROUND_CALLS)
    interleaved = [name for name, variant in variants.items() if variant.interleaved]
    for _ in range(reps):
        wanted = {name: max(1, int(calls * variant.calls_share)) for name, variant in variants.items()}
        per_round = {name: -(-n // rounds) for name, n in wanted.items()}  # a smaller share: fewer per round
        for variant in variants.values():  # warm: connections, the turn's context, code paths
            if variant.interleaved:
                _timed_calls(variant, 1, untimed=5, collect=False)
        gc.collect()
        taken: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            order = interleaved[:]
            rng.shuffle(order)
            for name in order:
                n = min(per_round[name], wanted[name] - len(taken[name]))
                if n > 0:
                    taken[name] += _timed_calls(variants[name], n, untimed=0, collect=False)
        for name, variant in variants.items():
            if not variant.interleaved:
                taken[name] = _timed_calls(variant, wanted[name], untimed=1, collect=False)
        for name, batch in taken.items():
            samples[name] += batch
        per_rep.append({name: median(batch) for name, batch in taken.items()})
    ratios = ratios_to(baseline, per_rep)
    return {
        name: {"label": variants[name].label, **summarize(samples[name]), "ratio": ratios[name]}
        for name in variants
    }


def measure_paired(on: Variant, off: Variant, *, pairs: int, batch: int) -> dict:
    """`on` against `off` in many short back-to-back batches (alternating which goes first): for a
    difference of a few percent, drift between the two must be smaller still."""
    from .percentile import median, ratios_to, summarize

    samples: dict[str, list[float]] = {"on": [], "off": []}
    per_pair = []
    for i in range(pairs):
        medians = {}
        for name, variant in ((("on", on), ("off", off)) if i % 2 == 0 else (("off", off), ("on", on))):
            timed = time_batch(variant, batch, untimed=2, collect=False)
            samples[name] += timed
            medians[name] = median(timed)
        per_pair.append(medians)
    ratios = ratios_to("off", per_pair)
    return {name: {"label": v.label, **summarize(samples[name]), "ratio": ratios[name]}
            for name, v in (("on", on), ("off", off))}


def record_cost_ns() -> float:
    """What one `stats.record` call costs on its own (the hit path makes one per read)."""
    from caching.backend import stats
    from caching.keys import USER_MEMORY

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(100_000):
            stats.record(USER_MEMORY, stats.HIT)
        best = min(best, (time.perf_counter_ns() - started) / 100_000)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="cache hit path benchmark (run by bench.run)")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--fdc-latency-ms", type=float, default=150.0)
    parser.add_argument("--fdc-calls", type=int, default=10, help="timed calls of the (slow) FDC source per rep")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    django.setup()

    from . import hitpath_setup

    fixture = hitpath_setup.build(fdc_latency=args.fdc_latency_ms / 1000, fdc_calls=args.fdc_calls, calls=args.calls)
    result: dict[str, Any] = {"namespaces": {}, "stats_overhead": {}, "memory": fixture.memory, "round_calls": ROUND_CALLS}
    for ns in fixture.namespaces:
        result["namespaces"][ns.name] = {
            "key": ns.key, "value_bytes": ns.value_bytes, "goal_variant": ns.goal_variant,
            "stored_format": ns.stored_format, "json_bytes": ns.json_bytes,
            "variants": measure(ns.variants, reps=args.reps, calls=args.calls, baseline=RAW, seed=args.seed),
        }
        overhead = {
            "on": ns.variants[ns.goal_variant],
            "off": Variant(ns.variants[ns.goal_variant].label + ", stats off", ns.variants[ns.goal_variant].call,
                           context=lambda context=ns.variants[ns.goal_variant].context: both(context, stats_off)),
        }
        result["stats_overhead"][ns.name] = measure_paired(overhead["on"], overhead["off"], batch=PAIR_BATCH,
                                                           pairs=max(10, args.reps * args.calls // PAIR_BATCH))
    result["record_ns"] = record_cost_ns()
    import itertools

    result["append_bytes"] = hitpath_setup.append_bytes(itertools.count(10**9))
    fixture.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
