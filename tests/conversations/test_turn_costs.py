"""What one webhook turn costs, per kind of turn: SQL statements and Redis round trips (counts, never
time), so that a change cannot add one quietly.

A warm text turn is, besides BEGIN and COMMIT (psycopg sends those; Django's capture does not list
them): the claim (INSERT … ON CONFLICT DO NOTHING RETURNING the outbox check) and one INSERT of both
messages carrying, in its WITH, the UPDATE that stores the reply and the turn's cache keys (on
SQLite, which has no data-modifying WITH, the INSERT and the UPDATE) — and two Redis round trips:
one MGET of the user's entries, one pipeline on commit.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caching.backend import stats
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(ctx) -> list[str]:
    """The statements a turn sent, without BEGIN/COMMIT (listed on SQLite only; there on both)."""
    return [kind for kind in (q["sql"].split()[0].upper() for q in ctx.captured_queries)
            if kind not in ("BEGIN", "COMMIT")]


def _finish() -> list[str]:
    """The statements that end a turn (conversations.services.turn_finish)."""
    return ["WITH"] if connection.vendor == "postgresql" else ["INSERT", "UPDATE"]


def _warm(bot) -> None:
    bot.say("/start")
    bot.say("/set weight_kg 70")
    bot.say("hello")  # memory and history cached, every script loaded


def test_a_warm_text_turn_is_two_statements_and_two_round_trips(bot, redis_round_trips):
    _warm(bot)
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx, stats.capture() as events:
        assert "Earlier you said" in bot.say("what did I say before?")
    assert _statements(ctx) == ["INSERT", *_finish()]  # the claim; both messages and the reply
    claim = next(q["sql"] for q in ctx.captured_queries if q["sql"].startswith("INSERT"))
    assert "caching_pendinginvalidation" in claim  # the fence rides on the claim
    if connection.vendor == "postgresql":
        finish = next(q["sql"] for q in ctx.captured_queries if q["sql"].startswith("WITH"))
        assert "UPDATE" in finish and "conversations_processedupdate" in finish and "conversations_message" in finish
    assert redis_round_trips == [["MGET"], ["EVALSHA"]]  # read memory + history; append on commit
    assert sorted(events) == [("conversation_history", "hit"), ("conversation_history", "set"),
                              ("user_memory", "hit")]


def test_a_set_turn_keeps_memory_warm_in_the_same_two_round_trips(bot, redis_round_trips):
    _warm(bot)
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert "Saved" in bot.say("/set weight_kg 71")
    # claim; SAVEPOINT, SELECT … FOR UPDATE, UPDATE profile, INSERT the weight history's row, RELEASE;
    # messages and reply
    assert _statements(ctx) == ["INSERT", "SAVEPOINT", "SELECT", "UPDATE", "INSERT", "RELEASE", *_finish()]
    assert redis_round_trips == [["MGET"], ["EVALSHA", "EVALSHA"]]  # memory rewritten, history appended
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx, stats.capture() as events:
        assert "Weight: 71 kg" in bot.say("/profile")
    assert ("user_memory", "miss") not in events and ("user_memory", "hit") in events
    assert _statements(ctx) == ["INSERT", *_finish()]
    assert redis_round_trips == [["MGET"], ["EVALSHA"]]


def test_a_food_lookup_that_hits_is_read_with_the_users_entries(bot, fake_fdc, redis_round_trips):
    fake_fdc.add(200, {"foods": [fdc_food(description="Banana, raw", nutrients=BANANA_NUTRIENTS)]})
    _warm(bot)
    bot.say("/food banana")  # cached now
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx, stats.capture() as events:
        assert "Per 100 g" in bot.say("/food banana")
    assert len(fake_fdc.requests) == 1
    assert ("usda", "hit") in events
    assert _statements(ctx) == ["INSERT", *_finish()]
    assert redis_round_trips == [["MGET", "GET"], ["EVALSHA"]]  # one pipeline: the user's slot, the food's


def test_a_history_append_sends_one_message_whatever_the_entry_holds(bot, monkeypatch):
    """The bytes sent to Redis on commit do not grow with the cached history (1 message vs 50)."""
    import threading

    from redis.connection import AbstractConnection

    from conversations.selectors import get_conversation_history

    sent, me = [], threading.get_ident()
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        if threading.get_ident() == me:
            sent.append(len(command) if isinstance(command, (bytes, str)) else sum(map(len, command)))
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    bot.say("hello")  # the first turn fills the cache
    bot.say("hello")
    sent.clear()
    bot.say("hello")
    short = sent[-1]  # the on-commit round trip, appending to an entry of 4 messages
    for _ in range(30):
        bot.say("hello")
    assert len(get_conversation_history(user_id=42, limit=50)) == 50
    sent.clear()
    bot.say("hello")
    assert abs(sent[-1] - short) < 16, (short, sent[-1])  # ids and script arguments may gain a digit
    assert sent[-1] < 1000


def test_a_turn_after_its_memory_was_dropped_still_makes_two_round_trips(bot, redis_round_trips):
    """Another process's write dropped the user's memory (its token changed): the turn's MGET brings
    the new token with the miss, so the load needs no round trip for it, and the fill rides in the
    commit's pipeline. The turn after it hits."""
    from caching.keys import user_memory_key
    from caching.consistency.invalidation import invalidate

    _warm(bot)
    invalidate(user_memory_key(42))
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx, stats.capture() as events:
        assert "Ada" in bot.say("hello")
    assert redis_round_trips == [["MGET"], ["EVALSHA", "EVALSHA"]]  # fill and history append on commit
    assert ("user_memory", "miss") in events and ("user_memory", "set") in events
    assert _statements(ctx)[0] == "INSERT" and "SELECT" in _statements(ctx)  # the claim, then the load
    redis_round_trips.clear()
    with stats.capture() as events:
        bot.say("hello")
    assert ("user_memory", "hit") in events and ("user_memory", "miss") not in events
    assert redis_round_trips == [["MGET"], ["EVALSHA"]]


def test_a_fill_sent_on_commit_is_refused_when_an_invalidation_came_first(bot, monkeypatch):
    """The deferred fill keeps the token rule: an invalidation between the turn's load and its
    commit (another process's write) makes the fill a no-op, so nothing loaded before it is stored."""
    from django.core.cache import cache

    from caching.keys import user_memory_key
    from caching.consistency.invalidation import invalidate
    from conversations import bot as bot_module

    _warm(bot)
    key = user_memory_key(42)
    invalidate(key)
    respond = bot_module.respond

    def respond_after_a_write_elsewhere(**kwargs):
        invalidate(key)  # as the commit of another process's profile change would, mid-turn
        return respond(**kwargs)

    monkeypatch.setattr(bot_module, "respond", respond_after_a_write_elsewhere)
    with stats.capture() as events:
        bot.say("hello")
    assert ("user_memory", "miss") in events and ("user_memory", "set") not in events
    assert cache.get(key) is None  # the value loaded before the invalidation was not stored


def test_a_food_logged_in_free_text_is_read_with_the_users_entries(bot, fake_fdc, redis_round_trips):
    fake_fdc.add(200, {"foods": [fdc_food(description="Banana, raw", nutrients=BANANA_NUTRIENTS)]})
    _warm(bot)
    bot.say("/food banana")  # cached now
    redis_round_trips.clear()
    with stats.capture() as events:
        assert "Banana, raw" in bot.say("I had a banana for lunch")
    assert len(fake_fdc.requests) == 1 and ("usda", "hit") in events
    assert len(redis_round_trips) == 2 and redis_round_trips[0] == ["MGET", "GET"]  # then the commit's pipeline
    redis_round_trips.clear()
    with stats.capture() as events:
        assert "kcal" in bot.say("how many kcal in a banana")
    assert redis_round_trips[0] == ["MGET", "GET"] and ("usda", "hit") in events


def test_a_food_logged_without_an_amount_is_read_with_the_users_entries(bot, fake_fdc, redis_round_trips):
    """"just ate some banana" looks up "banana" (the usual portion is assumed): the key read ahead is
    that very query's, so the lookup hits in the turn's one MGET pipeline, not in a GET of its own."""
    fake_fdc.add(200, {"foods": [fdc_food(description="Banana, raw", nutrients=BANANA_NUTRIENTS)]})
    _warm(bot)
    bot.say("/food banana")  # cached now
    redis_round_trips.clear()
    with stats.capture() as events:
        assert "a usual portion" in bot.say("just ate some banana")
    assert len(fake_fdc.requests) == 1 and ("usda", "hit") in events
    assert len(redis_round_trips) == 2 and redis_round_trips[0] == ["MGET", "GET"]  # then the commit's pipeline
    redis_round_trips.clear()
    with stats.capture() as events:
        assert "kcal" in bot.say("calories in 100 g banana")  # the amount split off as _food_info splits it
    assert redis_round_trips[0] == ["MGET", "GET"] and ("usda", "hit") in events


def test_a_turn_that_asks_and_the_turn_that_answers_keep_two_round_trips(bot, redis_round_trips):
    """The question is part of user memory: asking rewrites the cached entry on commit (no extra
    round trip), and the answer is read with the user's entries in the turn's one MGET."""
    _warm(bot)
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert "❓ How much butter?" in bot.say("I had butter")
    # claim; SAVEPOINT, UPDATE profile's pending, RELEASE; messages and reply
    assert _statements(ctx) == ["INSERT", "SAVEPOINT", "UPDATE", "RELEASE", *_finish()]
    assert redis_round_trips == [["MGET"], ["EVALSHA", "EVALSHA"]]  # memory rewritten, history appended
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx, stats.capture() as events:
        assert "Logged 10 g butter" in bot.say("10 g")
    assert ("user_memory", "miss") not in events and ("user_memory", "hit") in events
    assert "SELECT" in _statements(ctx)  # the profile's existence before the entry is written
    assert redis_round_trips == [["MGET"], ["EVALSHA", "EVALSHA"]]


def test_the_claim_hands_postgresql_its_timestamps_as_the_field_would():
    """update_claim skips the DateTimeField's conversion of its two timestamps on PostgreSQL, where
    the conversion leaves an aware datetime as it is (psycopg adapts it): this test fails first if
    Django ever converts one there."""
    from django.utils import timezone

    from conversations.models import ProcessedUpdate

    if connection.vendor != "postgresql":
        pytest.skip("the conversion is kept elsewhere (SQLite stores text)")
    now = timezone.now()
    assert ProcessedUpdate._meta.get_field("processed_at").get_db_prep_save(now, connection) is now
