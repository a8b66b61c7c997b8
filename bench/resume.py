"""How soon caching resumes after a failover, beside how soon the topology itself failed over: the
figures the failover rounds (tests/fleet/test_failover.py) measured from outside, as a section of
BENCHMARKS.md.

    FAILOVER_ROUNDS=20 make test PYTEST_ARGS="tests/fleet/test_failover.py"   # writes artifacts/failover/
    .venv/bin/python -m bench.resume [--write]

The rounds run two gunicorn processes under webhook load on a Sentinel set and on a Cluster
(tools/redis_topologies.py); in each, a user's write is acknowledged by a primary whose replica was
cut off, then the primary is killed (kill -9) — or failed over by hand. *Promoted*: from the fault
until the topology names another primary for the user's keys. *Caching resumed*: from the fault until
both processes' breakers are closed and the user's entry is cached again (through a read). Nothing
here runs a server: this prints (and with --write keeps) what the last rounds recorded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import sections

BEGIN, END = "<!-- resume: bench/resume.py --write -->", "<!-- /resume -->"
SECTION = sections.Section(BEGIN, END)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "failover"
_SCENARIOS = (("sentinel", "kill9", "Sentinel", "kill -9 the primary"),
              ("sentinel", "manual", "Sentinel", "SENTINEL FAILOVER"),
              ("cluster", "kill9", "Cluster", "kill -9 a primary"),
              ("cluster", "manual", "Cluster", "CLUSTER FAILOVER"))


def section(artifacts: Path = ARTIFACTS) -> str:
    rows = []
    for kind, how, topology, fault in _SCENARIOS:
        path = artifacts / f"{kind}-{how}.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        r, p = s["resume_s"], s.get("promoted_s", {})
        rows.append(f"| {topology} | {fault} | {s['rounds']} | {p.get('median', '?')} / {p.get('p95', '?')} s | "
                    f"{r['median']} / {r['p95']} / {r['max']} s | {s['stale']} | {s['failed'] + s['load_failed']} |")
    if not rows:
        raise SystemExit(f"no failover rounds recorded in {artifacts}: run tests/fleet/test_failover.py first")
    return "\n".join([
        BEGIN,
        "## Time to resume caching after a failover (`bench/resume.py`)",
        "",
        "From tests/fleet/test_failover.py's rounds: two gunicorn processes (one sync worker each, breaker "
        "cool-down 1 s) under webhook load, 1 primary + 1 replica + 3 sentinels / 3 primaries with a replica "
        "each (failure detection after 1 s), the replica cut off before the fault so the acknowledged write "
        "is certainly lost, replica confirmation off (`REDIS_WAIT_REPLICAS=0`, the default) and the replay "
        "on (`REDIS_REPLAY_WINDOW=600`). Times from the fault, as seen from outside, on a 2-core machine "
        "shared with other work (the other suites ran beside these rounds).",
        "",
        "| topology | fault | rounds | promoted after (median / p95) | caching resumed after (median / p95 / max) "
        "| stale reads | failed turns |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Before the replay, `REDIS_WAIT_REPLICAS=1` was needed for correctness, and caching resumed only once "
        "the new primary had a replica in sync: a median of 17 s (max 22 s) after kill -9 of the Sentinel "
        "primary, measured from outside (issue 22). What is left between the promotion and the resume is the "
        "clients noticing the new primary, the breaker's cool-down where it opened, and the replay itself.",
        END,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.resume", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="put the section into BENCHMARKS.md")
    args = parser.parse_args()
    text = section()
    print(text)
    if args.write:
        SECTION.write(text)


if __name__ == "__main__":
    main()
