"""Negative controls: with a mechanism switched off, the same rounds do see stale reads.

They show that the harness (tests/fleet/test_faults.py) can fail: a round that passes there passes
because the mechanism works, not because the round could not have seen the old value.
"""

from __future__ import annotations

import pytest

from tests.fleet import test_faults
from tests.fleet.harness import Driver, Expected, Fleet, Tally, wait_for_breakers

pytestmark = pytest.mark.fleet
ROUNDS = 3


@pytest.fixture(scope="module")
def fleet_without(tmp_path_factory):
    # Production's 5 s cool-down: the writer's breaker probe (which replays the outbox) comes after
    # the reads, as it would for a process that saw the fault (the old design's only replay).
    # The replay off too: a Redis restarted from its AOF is a new dataset, into which it would put the
    # pending rows (caching/consistency/replay.py) — a mechanism of its own (tests/fleet/test_replay.py).
    fleet = Fleet(tmp_path_factory.mktemp("fleet-off"), mechanism_off="fence,redelivery", cooldown=5.0,
                  REDIS_REPLAY_WINDOW="0")
    yield fleet
    fleet.stop()


@pytest.mark.parametrize("fault", ["restart_from_aof", "pause_writes"])
def test_without_the_fence_a_reader_that_never_saw_the_fault_serves_stale(fleet_without, fault):
    tally = Tally()
    driver = Driver(tally)
    for r in range(ROUNDS):
        writer, reader = fleet_without.workers
        user, expected = 30_000_000 + 1000 * len(fault) + r, Expected()
        wait_for_breakers(fleet_without.workers, timeout=15)
        driver.write(writer, user, expected, weight=50 + r)
        driver.read_all([writer, reader], user, expected, round_no=r)
        recover = test_faults.FAULTS[fault](fleet_without.redis)
        try:
            driver.write(writer, user, expected, weight=150 + r, during_fault=True)
        finally:
            recover()
        for _ in range(3):  # the first command on a connection Redis dropped fails: then Redis answers
            driver.read(reader, user, expected, "profile", round_no=r)
    assert any(kind == "profile" for kind, *_ in tally.stale), "the control saw no stale read"


def test_without_redelivery_invalidation_a_killed_worker_leaves_stale_entries(fleet_without):
    tally = Tally()
    driver = Driver(tally)
    for r in range(ROUNDS):
        writer, reader = fleet_without.workers
        user, expected = 31_000_000 + r, Expected()
        wait_for_breakers(fleet_without.workers, timeout=15)
        driver.write(writer, user, expected, weight=50 + r)
        driver.read_all([writer, reader], user, expected, round_no=r)
        test_faults._killed_mid_turn_then_redelivered(driver, writer, user, expected, f"/set weight_kg {150 + r}")
        expected.weight = 150 + r
        for _ in range(3):
            driver.read(reader, user, expected, "profile", round_no=r)
    assert any(kind == "profile" for kind, *_ in tally.stale), "the control saw no stale read"
