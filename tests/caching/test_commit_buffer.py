"""The cache changes a transaction schedules, through savepoints (caching/consistency/commit_buffer.py).

The buffer lives beside Django's `connection.run_on_commit` list and is rebuilt from it whenever Django
replaces the list (a savepoint rolled back): so what a rolled-back savepoint scheduled is dropped,
and nothing else. `profile_update` and `food_log` open savepoints inside every bot turn.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from caching.consistency import commit_buffer, invalidation
from caching.keys import user_memory_key
from memory.selectors import load_user_memory
from memory.services import profile_ensure, profile_update

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


def _cached(key: str) -> bool:
    return cache.guarded(lambda r: r.exists(cache.make_and_validate_key(key))) == 1


@pytest.fixture
def sent(monkeypatch):
    """Each round trip the buffer makes on commit: the keys it sent."""
    calls: list[list[str]] = []
    original = commit_buffer.apply_ops

    def spying(ops):
        calls.append([key for key, _ in ops])
        return original(ops)

    monkeypatch.setattr(commit_buffer, "apply_ops", spying)
    return calls


def test_a_rolled_back_savepoint_drops_exactly_its_own_invalidations(sent):
    kept, dropped, later = user_memory_key(1), user_memory_key(2), user_memory_key(3)
    for key in (kept, dropped, later):
        cache.set(key, {"cached": True})
    with transaction.atomic():
        commit_buffer.invalidate_on_commit(kept)
        with pytest.raises(Rollback), transaction.atomic():
            commit_buffer.invalidate_on_commit(dropped)
            assert commit_buffer.scheduled_keys() == [kept, dropped]
            raise Rollback
        assert commit_buffer.scheduled_keys() == [kept]
        commit_buffer.invalidate_on_commit(later)
        assert commit_buffer.scheduled_keys() == [kept, later]
    assert (_cached(kept), _cached(dropped), _cached(later)) == (False, True, False)
    assert sorted(key for call in sent for key in call) == [kept, later]


def test_a_committed_savepoint_keeps_its_invalidations_and_all_go_in_one_round_trip(sent):
    first, second = user_memory_key(4), user_memory_key(5)
    for key in (first, second):
        cache.set(key, {"cached": True})
    with transaction.atomic():
        commit_buffer.invalidate_on_commit(first)
        with transaction.atomic():
            commit_buffer.invalidate_on_commit(second)
    assert (_cached(first), _cached(second)) == (False, False)
    assert sent == [[first, second]]


def test_a_failed_write_inside_a_turn_keeps_the_cached_memory(sent):
    """A /set whose value the database refuses rolls its savepoint back: the entry stays cached and
    correct, and the rest of the transaction still commits."""
    profile_ensure(user_id=6, name="Ann")
    assert load_user_memory(user_id=6)["profile"]["name"] == "Ann"
    sent.clear()
    with transaction.atomic():
        with pytest.raises(Rollback), transaction.atomic():
            profile_update(user_id=6, field="weight_kg", raw_value="80")
            raise Rollback
        assert commit_buffer.scheduled_keys() == []
    assert sent == []
    assert _cached(user_memory_key(6))
    assert load_user_memory(user_id=6)["profile"]["weight_kg"] is None


def test_django_keeps_on_commit_callbacks_as_sids_func_robust_tuples():
    """commit_buffer rebuilds its buffer from `connection.run_on_commit`, reading each entry as the
    (savepoint ids, callable, robust) tuple Django 4.2+ keeps. This fails when that shape changes."""
    key = user_memory_key(7)
    with transaction.atomic():
        commit_buffer.invalidate_on_commit(key)
        with transaction.atomic():
            assert [type(entry) for entry in connection.run_on_commit] == [tuple]
            (sids, func, robust), = connection.run_on_commit
            assert isinstance(sids, set) and robust is False
            assert isinstance(func, commit_buffer._Flush) and func.key == key
            assert isinstance(func.op, invalidation.CommitOp) and func.op.invalidate
