"""The suite empties the Redis database it runs against (FLUSHDB before and after every test), so it
refuses a database that holds keys it did not write: someone's data must never be lost to `make test`.

The suite marks a database as its own with one key (OWNER_KEY), written at the start of the run and
after every flush. A database that is empty, or holds that key, is the suite's; anything else stops
the run before the first test, with a message that says how to go on.
"""

from __future__ import annotations

import redis

from caching.servers.url import redact_url

OWNER_KEY = "healthagent:test-suite:owns-this-db"
_SAMPLE = 5


def refusal(url: str) -> str | None:
    """Why the suite must not run against `url`, or None when the database is empty or the suite's."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        if client.dbsize() == 0 or client.exists(OWNER_KEY):
            return None
        # The replay's marker (caching/consistency/replay.py) is written by the service's first
        # connection to a dataset, this run's included: it holds no one's data.
        others = [key for key in client.scan_iter(count=1000) if b":replayed:" not in key]
        if not others:
            return None
        sample = [key.decode(errors="replace") for key in others[:_SAMPLE]]
        size = client.dbsize()
    except redis.RedisError as exc:
        return f"the test suite cannot reach Redis at {redact_url(url)} ({exc})"
    finally:
        client.close()
    return (
        f"refusing to run the test suite against {redact_url(url)}: that Redis database holds {size} key(s) "
        f"the suite did not write (e.g. {', '.join(sample)}), and the suite empties its database before "
        "and after every test. Point TEST_REDIS_URL (or REDIS_URL) at an empty database of its own, "
        "e.g. redis://127.0.0.1:6379/15, or empty this one yourself if its keys are expendable."
    )


def claim(url: str) -> None:
    """Mark the database as the suite's (after a flush: the flush removed the mark too)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.set(OWNER_KEY, "written by healthagent's test suite (tests/redis_guard.py)")
    except redis.RedisError:
        pass  # Redis down mid-run: the tests that stop it expect exactly that; nothing to mark
    finally:
        client.close()
