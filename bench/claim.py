"""What the fleet-wide fence costs a turn: the claim with the outbox check folded in, side by side
with the claim it replaced (SAVEPOINT, INSERT, RELEASE), in one run on the same PostgreSQL.

    DATABASE_URL=postgres://…/db .venv/bin/python -m bench.claim [--rounds 20] [--per-round 100] [--write]

The database must be migrated (`manage.py migrate`); the benchmark adds ProcessedUpdate rows with
ids of its own and deletes them again. Prints a Markdown section; `--write` puts it into
BENCHMARKS.md (where `make bench` keeps it, as it keeps bench/compression.py's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench import sections

BEGIN, END = "<!-- claim: bench/claim.py --write -->", "<!-- /claim -->"
SECTION = sections.Section(BEGIN, END)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    import django

    django.setup()
    from django.db import IntegrityError, connection, transaction

    from caching.models import PendingInvalidation
    from conversations.models import ProcessedUpdate
    from conversations.services import update_claim

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    base = 9_000_000_000

    def old_claim(update_id: int) -> bool:  # main before the fence: a savepoint around the INSERT
        try:
            with transaction.atomic():
                ProcessedUpdate.objects.create(update_id=update_id, user_id=1)
        except IntegrityError:
            return False
        return True

    def new_claim(update_id: int) -> object:
        return update_claim(update_id=update_id, user_id=1)

    statements = {"old": 0, "new": 0}
    timings: dict[str, list[float]] = {"old": [], "new": []}
    next_id = base
    for pending in (False, True):
        if pending:
            PendingInvalidation.objects.get_or_create(key="bench:claim")
        for _ in range(args.rounds):
            for name, claim in (("old", old_claim), ("new", new_claim)):
                counted = [0]

                def count(execute, sql, params, many, context, counted=counted):
                    counted[0] += 1
                    return execute(sql, params, many, context)

                started = time.perf_counter()
                with connection.execute_wrapper(count):
                    for _ in range(args.per_round):
                        next_id += 1
                        with transaction.atomic():
                            claim(next_id)
                timings[name].append((time.perf_counter() - started) / args.per_round)
                statements[name] = counted[0] // args.per_round
    PendingInvalidation.objects.filter(key="bench:claim").delete()
    ProcessedUpdate.objects.filter(update_id__gt=base, update_id__lte=next_id).delete()

    old, new = statistics.median(timings["old"]), statistics.median(timings["new"])
    lines = [
        BEGIN,
        "## What the fleet-wide fence costs a turn (`bench/claim.py`)",
        "",
        "Every turn must learn whether an invalidation is pending before it trusts Redis (docs/ARCHITECTURE.md "
        "§5.1). The check rides in the statement that claims the update, which replaced a savepoint around "
        f"an INSERT: side by side on {connection.vendor}, {args.rounds} rounds × {args.per_round} claims each "
        "way, alternating, half of them with an outbox row pending, each claim in its own transaction "
        "(BEGIN/COMMIT not counted).",
        "",
        "| claim | statements | median per claim | ratio |",
        "|---|---:|---:|---:|",
        f"| before: SAVEPOINT, INSERT, RELEASE | {statements['old']} | {old * 1e6:.0f} µs | 1.00× |",
        f"| now: INSERT … ON CONFLICT DO NOTHING RETURNING EXISTS(outbox) | {statements['new']} | "
        f"{new * 1e6:.0f} µs | {new / old:.2f}× |",
        "",
        "So the fence adds no statement and no Redis round trip to a turn while nothing is pending (the "
        "webhook figures above include it); a turn that finds rows pending adds one SELECT, one pipelined "
        "round trip and one DELETE, once per outage.",
        END,
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        SECTION.write(section)


if __name__ == "__main__":
    main()
