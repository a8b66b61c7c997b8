"""A Redis that loses acknowledged invalidations — a machine crash — gets them back before anyone reads.

The crash is simulated as a machine crash loses data with `appendfsync everysec`: the AOF directory is
copied as it was before the writes, the writes go through both gunicorn processes (acknowledged), then
Redis is killed (kill -9), the old AOF directory put back and Redis started again: it answers with the
old entries and the old tokens, as if the invalidations never happened. (kill -9 alone loses nothing:
the AOF write precedes the reply; it is the machine that loses the page cache.)

Each round, 3 fresh users write and read through both workers (warm), the snapshot is taken, each user
writes again (user i through worker i % 2), the crash, then every read through both workers must show
the last acknowledged write (caching/consistency/replay.py replays the last REDIS_REPLAY_WINDOW
seconds of invalidations into the new dataset first). FLEET_REPLAY_ROUNDS sets the rounds (CI: 20).
The negative control runs the same rounds with the replay off and must see stale reads.
"""

from __future__ import annotations

import os
import secrets
import shutil

import pytest

from tests.fleet.harness import Driver, Expected, Fleet, Tally, wait_for_breakers
from tests.fleet.test_faults import _check

pytestmark = pytest.mark.fleet
USERS_PER_ROUND = 3
CONTROL_ROUNDS = 3


def replay_rounds() -> int:
    return int(os.environ.get("FLEET_REPLAY_ROUNDS") or 5)


@pytest.fixture(scope="module")
def crash_fleet(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("fleet-replay"))
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def crash_fleet_without_replay(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("fleet-replay-off"), REDIS_REPLAY_WINDOW="0")
    yield fleet
    fleet.stop()


def _machine_crash_after(fleet: Fleet, writes) -> None:
    """Run `writes` (acknowledged), then crash Redis so that it comes back as it was before them."""
    redis = fleet.redis
    aof = redis.workdir / "appendonlydir"
    snapshot = redis.workdir / "appendonlydir.before"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(aof, snapshot)  # every write so far is in the files (written before the reply)
    writes()
    redis.kill()
    shutil.rmtree(aof)
    snapshot.rename(aof)
    redis.start()


def _run_rounds(fleet: Fleet, n: int, *, base_user: int) -> Tally:
    tally = Tally()
    driver = Driver(tally)
    workers = fleet.workers
    for r in range(n):
        users = {base_user + r * USERS_PER_ROUND + i: Expected() for i in range(USERS_PER_ROUND)}
        wait_for_breakers(workers)
        for i, (user, expected) in enumerate(users.items()):
            driver.write(workers[i % 2], user, expected, weight=50 + r, note=f"n{r}x{secrets.token_hex(2)}")
            driver.read_all(workers, user, expected, round_no=r)  # cached, with its token

        def writes() -> None:
            for i, (user, expected) in enumerate(users.items()):
                driver.write(workers[i % 2], user, expected, weight=150 + r, note=f"n{r}y{secrets.token_hex(2)}")

        _machine_crash_after(fleet, writes)
        for i, (user, expected) in enumerate(users.items()):
            # The worker that did not write this user first: it never saw the writes at all.
            driver.read_all([workers[(i + 1) % 2], workers[i % 2]], user, expected, round_no=r)
    return tally


def test_no_stale_read_after_a_crash_loses_acknowledged_invalidations(crash_fleet):
    n = replay_rounds()
    tally = _run_rounds(crash_fleet, n, base_user=40_000_000)
    _check(tally, n * USERS_PER_ROUND, "crash_replay")


def test_without_the_replay_the_crash_serves_stale_reads(crash_fleet_without_replay):
    tally = _run_rounds(crash_fleet_without_replay, CONTROL_ROUNDS, base_user=41_000_000)
    stale_rounds = {round_no for kind, _, round_no, _, _ in tally.stale if kind == "profile"}
    print(f"\nfleet crash_replay control (replay off): {len(tally.stale)} stale reads of {sum(tally.reads.values())}, "
          f"profile stale in rounds {sorted(stale_rounds)} of {CONTROL_ROUNDS}")
    assert len(stale_rounds) * 2 > CONTROL_ROUNDS, (
        f"the control saw stale reads in rounds {sorted(stale_rounds)} of {CONTROL_ROUNDS}: the crash does not "
        "lose the invalidations, so the test above proves nothing")
