"""The stale-set race across processes: a reader in one process loads the old row just before a writer
in another commits, and fills after the writer invalidated. The version token must stop that fill, so
no read that starts after a write was acknowledged returns an older value — whichever process it goes
to. Every round forces the race (harness.Gate holds reader B between its database read and its fill
while A's write commits); the control shows the same rounds serve stale reads without the token check.
On SQLite every turn is one IMMEDIATE transaction, so turns never overlap and the race cannot happen
(A's write would wait for B's turn): these run on PostgreSQL (CI's real-servers pass)."""

from __future__ import annotations

import os
import re

import pytest
from django.core.cache import cache

from caching.api import user_memory_key
from tests.fleet.harness import Driver, Expected, Fleet, Gate, Tally, rounds

pytestmark = pytest.mark.fleet
USER = 40_000_000


def _fleet(workdir, **options) -> tuple[Fleet, Gate]:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):  # (harness.FleetDatabase)
        pytest.skip("on SQLite every turn is one IMMEDIATE transaction: turns never overlap, so the race cannot "
                    "happen (a write waits for the reader's turn); these run on PostgreSQL (CI's real-servers pass)")
    gate = Gate(workdir)
    return Fleet(workdir, FLEET_GATED_WORKERS="B", **gate.env, **options), gate


@pytest.fixture(scope="module")
def racing_fleet(tmp_path_factory):
    # Writes that keep memory warm (memory/services.py) store the new value on commit: this fleet
    # drops the entry on every write instead, as before keep-warm, so every reader after a write misses.
    fleet, gate = _fleet(tmp_path_factory.mktemp("race"), mechanism_off="keepwarm")
    yield fleet, gate
    fleet.stop()


@pytest.fixture(scope="module")
def warm_fleet(tmp_path_factory):
    fleet, gate = _fleet(tmp_path_factory.mktemp("race-warm"))
    yield fleet, gate
    fleet.stop()


@pytest.fixture(scope="module")
def fleet_without_tokens(tmp_path_factory):
    fleet, gate = _fleet(tmp_path_factory.mktemp("race-off"), mechanism_off="token,keepwarm")
    yield fleet, gate
    fleet.stop()


def test_no_read_started_after_an_acknowledged_write_returns_an_older_value(racing_fleet):
    stale, raced = _race(*racing_fleet, rounds=rounds())
    assert raced == rounds()
    assert stale == [], stale[:10]


def test_writes_that_keep_memory_warm_leave_no_older_value_either(warm_fleet):
    """As deployed: the writer stores each new value on commit (under a fresh token, only if the
    token it read is unchanged) while the reader's fill, under the token it read before, must lose."""
    stale, raced = _race(*warm_fleet, rounds=rounds())
    assert raced == rounds()
    assert stale == [], stale[:10]


def test_control_without_the_token_check_the_race_stores_old_rows(fleet_without_tokens):
    stale, raced = _race(*fleet_without_tokens, rounds=5)
    assert raced == 5
    # Every round: B's fill lands after A's invalidation, and B's next read is a hit on the old row.
    assert {round_no for round_no, *_ in stale} == set(range(5)), stale


def _race(fleet: Fleet, gate: Gate, *, rounds: int) -> tuple[list, int]:
    """Each round: A writes weight w; the entry is gone (as after its TTL); B's read misses and is held
    after loading w from the database; A writes w + 1, acknowledged; B goes on (its fill, under the
    token it read before A's commit, must be refused) and answers w, as a read started before that
    write may. Then reads through B and A, started after the acknowledgement, must say w + 1.
    Returns (stale reads, rounds whose reader loaded the old row and answered with it)."""
    writer, reader = fleet.workers
    driver = Driver(Tally())
    value_key = cache.make_and_validate_key(user_memory_key(USER))  # the key the workers fill
    redis = fleet.redis.client()
    stale, raced = [], 0
    for round_no in range(rounds):
        old = 50 + 2 * round_no
        driver.write(writer, USER, Expected(), weight=old)
        redis.delete(value_key)  # the value only: the token stays, as when the entry's TTL ran out
        with gate.hold(lambda: driver.turn(reader, USER, f"/profile held {round_no}")) as held:
            driver.write(writer, USER, Expected(), weight=old + 1)  # acknowledged while B holds the old row
        if _weight(held.result) == old:
            raced += 1
        for worker in (reader, writer, reader):
            seen = _weight(driver.turn(worker, USER, f"/profile after {round_no}"))
            if seen != old + 1:
                stale.append((round_no, worker.name, seen, old + 1))
        assert redis.exists(value_key) == 1, "the reads filled no entry at this key: not the workers' key"
    assert driver.tally.failed == [], driver.tally.failed[:5]
    return stale, raced


def _weight(reply: str | None) -> int | None:
    weights = re.findall(r"(\d+) kg\b", reply or "")
    return int(weights[0]) if weights else None
