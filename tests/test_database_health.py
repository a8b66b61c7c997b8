"""Pooled PostgreSQL connections are checked before reuse: after PostgreSQL drops its backends (a
restart, a failover, pg_terminate_backend), the next turns get fresh connections instead of each
failing with 503 on a dead one. Needs PostgreSQL (DATABASE_URL); skipped on SQLite."""

import threading

import psycopg
import pytest
from django.db import connection, connections

from tests.concurrency import in_threads
from tests.telegram import make_update

pytestmark = pytest.mark.django_db(transaction=True)
POOLED = 4  # connections the pool holds when PostgreSQL drops them
TURNS = 8


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL")
    return connection.settings_dict


def _fill_pool(n):
    """Make the pool hold n idle connections: n threads each borrow one at the same time."""
    barrier = threading.Barrier(n)

    def borrow() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        barrier.wait(timeout=10)
        connections["default"].close()  # back to the pool, as at the end of a request

    _, errors = in_threads(n, borrow)
    assert errors == [None] * n


def _terminate_backends(settings_dict) -> int:
    """pg_terminate_backend for every other session of the test database, from a connection of its own."""
    with psycopg.connect(dbname=settings_dict["NAME"], host=settings_dict["HOST"] or None,
                         port=settings_dict["PORT"] or None, user=settings_dict["USER"] or None,
                         password=settings_dict["PASSWORD"] or None, autocommit=True) as own:
        return own.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def test_one_terminated_backend_costs_at_most_one_503(bot, postgres):
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    bot.say("/start")
    connection.close()
    _fill_pool(POOLED)
    assert _terminate_backends(postgres) >= POOLED
    statuses = []
    for i in range(TURNS):
        statuses.append(bot.post(make_update(f"/history {i + 1}")).status_code)
        connection.close()  # what request_finished does in production (the test client skips it)
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) <= 1, statuses
    assert statuses[-1] == 200
