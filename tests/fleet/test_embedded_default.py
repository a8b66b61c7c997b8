"""The embedded default as a newcomer gets it (no REDIS_URL, a SQLite file): every process shares
one valkey-server, so a write through one process is never answered from another's stale copy, and
`cache_invalidate` run from a shell reaches the running service's cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from caching.servers import embedded
from tests.fleet.harness import Driver, Expected, FleetDatabase, Tally, Worker, manage, service_env

pytestmark = pytest.mark.fleet


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("newcomer")
    run_dir = workdir / "run"
    database = FleetDatabase(workdir, sqlite=True)
    env = service_env(database_url=database.url, redis_url="", EMBEDDED_REDIS_DIR=str(run_dir))
    env.pop("REDIS_URL")
    servers = []
    try:
        servers = [Worker("A", env, workdir), Worker("B", env, workdir, workers=2)]  # B as `make serve` runs
        yield env, run_dir, servers
    finally:
        for server in servers:
            server.stop()
        embedded.stop(embedded.socket_path(run_dir))


def _keys(run_dir: Path, pattern: str) -> list[bytes]:
    client = redis.Redis(unix_socket_path=str(embedded.socket_path(run_dir)))
    try:
        return client.keys(pattern)
    finally:
        client.close()


def test_every_process_shares_one_cache(newcomer):
    env, run_dir, (a, b) = newcomer
    tally = Tally()
    driver = Driver(tally)
    for n, weight in enumerate((60, 90, 71)):
        expected = Expected()
        driver.write(a if n % 2 else b, 1, expected, weight=weight)
        for i in range(20):  # spread over three worker processes
            driver.read((a, b)[i % 2], 1, expected, "profile", round_no=n)
    assert tally.reads["profile"] == 60
    assert tally.stale == [] and tally.failed == []
    assert embedded.answers(embedded.socket_path(run_dir))  # a real server, started by the first process


def test_cache_invalidate_from_a_shell_removes_the_services_keys(newcomer):
    env, run_dir, (a, b) = newcomer
    driver = Driver(Tally())
    driver.write(a, 2, Expected(), weight=80)
    driver.read(b, 2, Expected(), "history", round_no=0)
    assert len(_keys(run_dir, "ha:*:user_memory:{2}")) == 1

    done = manage("cache_invalidate", "--user", "2", env=env)

    assert done.returncode == 0, done.stderr
    assert "Removed 2 cached entries of user 2" in done.stdout
    assert _keys(run_dir, "ha:*:user_memory:{2}") == [] and _keys(run_dir, "ha:*:conversation_history:{2}") == []


def test_a_stopped_server_is_started_again_by_the_next_turn(newcomer):
    env, run_dir, (a, b) = newcomer
    assert embedded.stop(embedded.socket_path(run_dir))
    tally = Tally()
    driver = Driver(tally)
    expected = Expected()
    driver.write(a, 3, expected, weight=66)
    for i in range(6):
        driver.read((a, b)[i % 2], 3, expected, "profile", round_no=0)
    assert tally.stale == [] and tally.failed == []
    assert embedded.answers(embedded.socket_path(run_dir))


def test_the_fakeredis_fallback_says_commands_cannot_reach_the_service(tmp_path):
    database = FleetDatabase(tmp_path, sqlite=True)
    env = service_env(database_url=database.url, redis_url="", EMBEDDED_REDIS="fakeredis")
    env.pop("REDIS_URL")
    for command in (("cache_invalidate", "--user", "1"), ("cache_stats",)):
        done = manage(*command, env=env)
        assert done.returncode != 0
        assert "in-process fakeredis" in done.stderr and "running service" in done.stderr
    assert "only ONE process may serve" in done.stderr  # the start-up line
