"""Writes that keep entries warm: a changed profile stored on commit under a fresh token (only while
no other commit's invalidation ran since the turn read it), and history appends spliced in Redis
(placed in the database's order, never twice)."""

from __future__ import annotations

import orjson
import pytest
from django.core.cache import cache
from django.db import transaction

from caching.consistency import invalidation, turn_state
from caching.backend import stats
from caching.keys import conversation_history_key, user_memory_key
from conversations import selectors as history_selectors
from memory.selectors import load_user_memory
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food
from caching.api import invalidate_on_commit
from memory.services import pending_set, preference_set, profile_ensure, profile_update

pytestmark = pytest.mark.django_db(transaction=True)


def _turn_writes(user_id: int, write, *, meanwhile=None) -> None:
    """What a bot turn does around a write to memory: read it (with its token), write, commit."""
    key = user_memory_key(user_id)
    with turn_state.scope(), transaction.atomic():
        turn_state.prefetch([key], tokens=(key,))
        assert load_user_memory(user_id=user_id) is not None
        write()
        if meanwhile is not None:
            meanwhile()


def _raw(key: str) -> bytes | None:
    return cache.guarded(lambda r: r.get(cache.make_and_validate_key(key)))


def test_a_changed_profile_is_stored_on_commit_and_the_next_read_hits():
    profile_ensure(user_id=1, name="Ann")
    preference_set(user_id=1, key="diet", value="vegan")
    load_user_memory(user_id=1)  # cached
    _turn_writes(1, lambda: profile_update(user_id=1, field="weight_kg", raw_value="71.5"))
    with stats.capture() as events:
        memory = load_user_memory(user_id=1)
    assert events == [("user_memory", "hit")]
    assert memory["profile"]["weight_kg"] == 71.5 and memory["preferences"] == {"diet": "vegan"}
    _turn_writes(1, lambda: preference_set(user_id=1, key="diet", value="keto"))
    with stats.capture() as events:
        assert load_user_memory(user_id=1)["preferences"] == {"diet": "keto"}
    assert events == [("user_memory", "hit")]


def test_an_invalidation_that_ran_after_the_turn_read_wins_over_its_value():
    """Another writer committed and invalidated after this turn read memory: the value this turn
    built from its read may miss that write, so it is dropped, not stored."""
    profile_ensure(user_id=2, name="Bo")
    load_user_memory(user_id=2)
    key = user_memory_key(2)
    _turn_writes(2, lambda: profile_update(user_id=2, field="age", raw_value="40"),
                 meanwhile=lambda: invalidation.invalidate(key))
    assert _raw(key) is None
    assert load_user_memory(user_id=2)["profile"]["age"] == 40


def test_a_second_kept_warm_change_in_the_same_transaction_builds_on_the_first():
    """A turn that drops a pending question and then saves a /set (or asks a new question) changes
    memory twice: both changes kept warm, the value stored is the entry read with both applied, and
    the next read hits (it used to drop the entry: the next turn missed)."""
    profile_ensure(user_id=3, name="Cy")
    load_user_memory(user_id=3)

    def two_writes():
        profile_update(user_id=3, field="age", raw_value="30")
        preference_set(user_id=3, key="diet", value="vegan")

    _turn_writes(3, two_writes)
    assert _raw(user_memory_key(3)) is not None
    with stats.capture() as events:
        memory = load_user_memory(user_id=3)
    assert events == [("user_memory", "hit")]
    assert memory["profile"]["age"] == 30 and memory["preferences"] == {"diet": "vegan"}
    assert memory == _loaded(3)


def test_pending_dropped_then_a_set_keeps_memory_warm():
    profile_ensure(user_id=8, name="Di")
    pending_set(user_id=8, pending={"items": [{"said": "rice", "query": "rice", "addition": False, "to": ""}]})
    load_user_memory(user_id=8)

    def drop_then_set():
        pending_set(user_id=8, pending=None)
        profile_update(user_id=8, field="weight_kg", raw_value="70")

    _turn_writes(8, drop_then_set)
    with stats.capture() as events:
        memory = load_user_memory(user_id=8)
    assert events == [("user_memory", "hit")]
    assert memory["pending"] is None and memory["profile"]["weight_kg"] == 70
    assert memory == _loaded(8)


def test_a_change_not_kept_warm_after_one_that_was_drops_the_entry():
    profile_ensure(user_id=9, name="Ed")
    load_user_memory(user_id=9)

    def kept_then_plain():
        profile_update(user_id=9, field="age", raw_value="31")
        invalidate_on_commit(user_memory_key(9))  # a write that says nothing of how the value changed

    _turn_writes(9, kept_then_plain)
    assert _raw(user_memory_key(9)) is None
    assert load_user_memory(user_id=9)["profile"]["age"] == 31


def test_a_rolled_back_second_change_is_not_stored():
    """The second change's savepoint rolls back after its block: its value must not be stored (the
    first change's replacement was spent by the second write's invalidation: the entry is dropped)."""
    profile_ensure(user_id=10, name="Flo")
    load_user_memory(user_id=10)

    def second_rolled_back():
        profile_update(user_id=10, field="age", raw_value="32")
        with pytest.raises(_Rollback), transaction.atomic():
            preference_set(user_id=10, key="diet", value="vegan")
            raise _Rollback

    _turn_writes(10, second_rolled_back)
    memory = load_user_memory(user_id=10)
    assert memory["profile"]["age"] == 32 and memory["preferences"] == {}
    assert memory == _loaded(10)


class _Rollback(Exception):
    pass


def _loaded(user_id: int) -> dict:
    """The memory as the database has it (the cache bypassed)."""
    from memory import selectors

    return selectors._load(user_id)


def test_spliced_history_is_byte_for_byte_what_a_fill_would_store(bot):
    for i in range(40):  # past the 50-message cap: older rows fall off the front
        bot.say(f"hello {i}")
    key = conversation_history_key(42)
    raw = _raw(key)
    assert raw is not None
    assert raw == orjson.dumps(history_selectors._load(42, history_selectors.HISTORY_MAX))


def test_rows_of_a_turn_that_committed_second_are_placed_in_order(bot):
    """Another turn's rows, committed first, sort after this turn's: they are placed in the order the
    database sorts them, and a row the entry already holds is not added twice."""
    bot.say("hello")
    bot.say("hello")
    key = conversation_history_key(42)
    entry = cache.get(key)
    later = {"id": 10**9, "role": "user", "content": "from a turn that committed first",
             "created_at": "2999-01-01T00:00:00.000000+00:00"}
    cache.set(key, entry + [later])
    bot.say("thanks")
    held = cache.get(key)
    assert held[-1] == later
    assert [m["content"] for m in held[-3:-1]] == ["thanks", "You're welcome, Ada!"]
    assert held[:-1] == history_selectors._load(42, 50)
    from caching.consistency import invalidation

    assert invalidation.append(key, held[-3:-1], max_items=50, timeout=60)  # a redelivered append: nothing doubles
    assert cache.get(key) == held


def test_an_entry_the_script_cannot_read_is_dropped_not_garbled(bot):
    bot.say("hello")
    key = conversation_history_key(42)
    cache.set(key, [{"role": "user", "content": "a row without an id first", "id": 1,
                     "created_at": "2000-01-01T00:00:00.000000+00:00"}])
    bot.say("hello")
    assert _raw(key) is None


def test_a_turn_that_missed_memory_and_writes_keeps_it_warm(bot):
    """The turn after a miss that wrote (/set after the entry was dropped) hits: the write keeps the
    entry warm from the value the miss loaded (read after its token), as from a hit."""
    bot.say("/start")
    key = user_memory_key(42)
    invalidation.invalidate(key)  # another writer's commit: the next turn misses
    with stats.capture() as events:
        assert "Saved" in bot.say("/set weight_kg 70")
    assert ("user_memory", "miss") in events
    with stats.capture() as events:
        assert "70 kg" in bot.say("/profile")
    assert ("user_memory", "hit") in events and ("user_memory", "miss") not in events


def test_a_new_users_first_turn_with_a_lookup_leaves_memory_cached(bot, fake_fdc):
    """A first turn that looks a food up runs twice (the lookup is made between the attempts): the
    first attempt cached "no profile" and minted a token, the second created the profile. The fill
    of the new profile after the commit must read the token the commit left, not the one the turn
    read before it (refused: the next turn missed)."""
    fake_fdc.add(200, {"foods": [fdc_food(description="Banana, raw", nutrients=BANANA_NUTRIENTS)]})
    assert "Banana" in bot.say("/food banana", user_id=77)
    assert len(fake_fdc.requests) == 1
    with stats.capture() as events:
        bot.say("/profile", user_id=77)
    assert ("user_memory", "hit") in events and ("user_memory", "miss") not in events
