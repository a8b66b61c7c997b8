"""The stale-set race (ARCHITECTURE.md §5.1): a reader loads the old row, pauses, and fills after the writer
commits. Real transactions and a second thread; every timing of the fill against the commit and
its invalidation is tried, 200 times per data path: zero stale reads."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection, transaction

from caching.keys import conversation_history_key, user_memory_key
from caching.consistency.invalidation import invalidate
from conversations import selectors as history_selectors
from conversations.selectors import get_conversation_history
from conversations.services import message_save
from memory import selectors as memory_selectors
from memory.selectors import load_user_memory
from memory.services import profile_ensure, profile_update

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 200
# Where the paused reader is let go, relative to the writer's transaction:
MOMENTS = (
    "before_commit",       # fills before the write commits: the invalidation must remove it
    "between",             # commit done, invalidation not yet sent: the invalidation must remove it
    "after_invalidation",  # fills after the invalidation: the token must refuse it
    "jitter",              # let go after a random short pause, wherever the writer is
)


class PausedReader:
    """Runs `read()` in a thread whose database load blocks until `release()`."""

    def __init__(self, monkeypatch, module, name: str, read) -> None:
        self.loaded = threading.Event()
        self.go = threading.Event()
        self.result = None
        original = getattr(module, name)

        def paused_load(*args):
            value = original(*args)
            if threading.current_thread() is self.thread:
                self.loaded.set()
                assert self.go.wait(10), "reader never released"
            return value

        monkeypatch.setattr(module, name, paused_load)

        def run() -> None:
            try:
                self.result = read()
            finally:
                connection.close()

        self.thread = threading.Thread(target=run)

    def start(self) -> None:
        self.thread.start()
        assert self.loaded.wait(10), "reader never loaded"

    def release(self) -> None:
        self.go.set()

    def join(self) -> None:
        self.go.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def _write_racing(reader: PausedReader, moment: str, write) -> None:
    reader.start()
    if moment == "jitter":
        threading.Timer(random.uniform(0, 0.002), reader.release).start()
    with transaction.atomic():
        if moment == "between":
            # on_commit callbacks run in order: this one runs after the commit, before the
            # invalidation the write registers below.
            transaction.on_commit(lambda: (reader.release(), reader.thread.join(10)))
        write()
        if moment == "before_commit":
            reader.release()
            reader.thread.join(10)
    reader.join()


@pytest.fixture
def sqlite_threads_ok():
    if connection.vendor == "sqlite":
        pytest.skip("needs a database two threads can use at once: runs on PostgreSQL (CI sets DATABASE_URL)")


def test_user_memory_stale_set_race(monkeypatch, sqlite_threads_ok):
    random.seed(1)
    profile_ensure(user_id=1, name="Ada")
    stale = []
    for round_ in range(ROUNDS):
        moment = MOMENTS[round_ % len(MOMENTS)]
        invalidate(user_memory_key(1))  # the reader must miss to race
        reader = PausedReader(monkeypatch, memory_selectors, "_load", lambda: load_user_memory(user_id=1))
        weight = str(40 + round_ % 300)
        _write_racing(reader, moment, lambda: profile_update(user_id=1, field="weight_kg", raw_value=weight))
        monkeypatch.undo()
        seen = load_user_memory(user_id=1)["profile"]["weight_kg"]
        if seen != float(weight):
            stale.append((round_, moment, seen, weight))
    assert stale == []


def test_history_append_races_a_fill(monkeypatch, sqlite_threads_ok):
    random.seed(2)
    profile_ensure(user_id=2)
    stale = []
    for round_ in range(ROUNDS):
        moment = MOMENTS[round_ % len(MOMENTS)]
        invalidate(conversation_history_key(2))  # the reader must miss to race
        reader = PausedReader(monkeypatch, history_selectors, "_load",
                              lambda: get_conversation_history(user_id=2, limit=50))
        _write_racing(reader, moment, lambda: message_save(user_id=2, role="user", content=f"m{round_}"))
        monkeypatch.undo()
        latest = get_conversation_history(user_id=2, limit=1)
        if [m["content"] for m in latest] != [f"m{round_}"]:
            stale.append((round_, moment, latest))
    assert stale == []
    # And the entry, when there is one, is exactly the database's last 50.
    assert get_conversation_history(user_id=2, limit=50) == history_selectors._load(2, 50)


def test_concurrent_commits_append_out_of_order_drops_the_entry(sqlite_threads_ok):
    """Two transactions for one user commit in the opposite order of their ids: the later append
    would land out of order, so the entry is dropped instead, and the next read is exact."""
    profile_ensure(user_id=3)
    message_save(user_id=3, role="user", content="base")
    get_conversation_history(user_id=3, limit=50)  # cache it
    first_saved, second_done = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                message_save(user_id=3, role="user", content="older id, commits last")
                first_saved.set()
                assert second_done.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert first_saved.wait(10)
    message_save(user_id=3, role="user", content="newer id, commits first")
    second_done.set()
    thread.join(10)
    history = get_conversation_history(user_id=3, limit=50)
    assert history == history_selectors._load(3, 50)
    assert len(history) == 3


def test_fill_never_stores_over_a_newer_token():
    """The unit of the mechanism: a fill under an old token is refused."""
    from django.core.cache import cache

    from caching.consistency import invalidation, reads

    profile_ensure(user_id=4)
    key = user_memory_key(4)
    token = reads._ensure_token(cache, key, 60)
    invalidation.invalidate(key)
    reads._fill(cache, key, token, {"stale": True}, 60)
    assert cache.get(key) is None
    token = reads._ensure_token(cache, key, 60)
    reads._fill(cache, key, token, {"fresh": True}, 60)
    assert cache.get(key) == {"fresh": True}
