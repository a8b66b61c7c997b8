"""The outbox fence in one process (caching/consistency/fence.py, caching/consistency/outbox.py); tests/fleet proves it
across processes with real faults. Here: what a turn does when invalidations are pending, what it
records when Redis refuses, and what a failure to record costs."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from caching.consistency import outbox
from caching.keys import conversation_history_key, user_memory_key
from caching.models import PendingInvalidation
from conversations.models import ProcessedUpdate
from tests.telegram import make_update

pytestmark = pytest.mark.django_db(transaction=True)


def _plant_stale_memory(live_redis, cache, user_id: int, weight: float) -> None:
    """What Redis holds after a write whose invalidation it never took: the old value."""
    from caching.backend import serializer

    rkey = cache.make_key(user_memory_key(user_id))
    memory = serializer.loads(cache.client.get_client().get(rkey))
    assert memory["profile"]["weight_kg"] == weight
    memory["profile"]["weight_kg"] = 40.0
    cache.client.get_client().set(rkey, serializer.dumps(memory), keepttl=True)


def test_a_turn_applies_pending_invalidations_before_it_reads(bot, live_redis):
    from django.core.cache import cache

    bot.say("/set weight_kg 70")
    assert "70 kg" in bot.say("/profile")  # cached now
    _plant_stale_memory(live_redis, cache, 42, 70.0)
    assert "40 kg" in bot.say("/profile")  # the planted old value is served: nothing says it is stale
    PendingInvalidation.objects.create(key=user_memory_key(42))  # ... until the outbox does

    assert "70 kg" in bot.say("/profile")
    assert PendingInvalidation.objects.pending().count() == 0  # applied, and cleared


def test_keys_redis_refuses_are_read_from_the_database(bot, live_redis, monkeypatch):
    from django.core.cache import cache

    bot.say("/set weight_kg 70")
    bot.say("/profile")
    _plant_stale_memory(live_redis, cache, 42, 70.0)
    PendingInvalidation.objects.create(key=user_memory_key(42))
    monkeypatch.setattr(outbox, "send_invalidations", lambda client, make_key, keys: [False] * len(keys))  # e.g. OOM

    assert "70 kg" in bot.say("/profile")
    assert PendingInvalidation.objects.pending().filter(key=user_memory_key(42)).exists()  # still pending


def test_the_check_rides_on_the_claim_no_statement_of_its_own(bot):
    bot.say("/start")
    bot.say("hello")
    with CaptureQueriesContext(connection) as ctx:
        bot.say("hello again")
    outbox_reads = [q["sql"] for q in ctx.captured_queries if "caching_pendinginvalidation" in q["sql"]]
    assert len(outbox_reads) == 1 and outbox_reads[0].lstrip().upper().startswith("INSERT")


def test_an_error_reply_to_an_invalidation_is_recorded(bot, live_redis):
    bot.say("/set weight_kg 70")
    bot.say("/profile")
    live_redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    live_redis.cli("CONFIG", "SET", "maxmemory", "1")
    try:
        assert "Saved" in bot.say("/set weight_kg 71")
        # The history append needs memory: refused with OOM, recorded. (The memory invalidation
        # deletes first, which Redis allows; whether its token SET passes depends on the server.)
        assert conversation_history_key(42) in set(PendingInvalidation.objects.pending().values_list("key", flat=True))
        assert "71 kg" in bot.say("/profile")
        assert "/set weight_kg 71" in bot.say("/history 4")  # Redis still refuses: from the database
    finally:
        live_redis.cli("CONFIG", "SET", "maxmemory", "0")
    assert "71 kg" in bot.say("/profile")
    assert "/profile" in bot.say("/history 2")
    assert PendingInvalidation.objects.pending().count() == 0


def test_a_redelivery_invalidates_the_turns_keys_again(bot, live_redis):
    from django.core.cache import cache

    bot.say("/set weight_kg 70")
    bot.say("/profile")
    update = make_update("/set weight_kg 75")
    assert bot.post(update).status_code == 200
    stored = ProcessedUpdate.objects.get(pk=update["update_id"])
    assert user_memory_key(42) in stored.cache_keys and conversation_history_key(42) in stored.cache_keys
    bot.say("/profile")
    _plant_stale_memory(live_redis, cache, 42, 75.0)  # as if the first delivery died before Redis

    assert "Saved" in bot.post(update).json()["text"]  # Telegram's redelivery: the stored reply
    assert "75 kg" in bot.say("/profile")


def test_when_nothing_can_record_a_refused_invalidation_the_turn_fails(bot, live_redis, monkeypatch):
    """Redis refuses and the database cannot take the outbox row: answering 200 would acknowledge a
    write that may be served stale, so the turn answers 503 and Telegram delivers it again."""
    bot.say("/set weight_kg 70")
    live_redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    live_redis.cli("CONFIG", "SET", "maxmemory", "1")

    def unavailable(keys):
        raise OperationalError("the database went away")

    monkeypatch.setattr(outbox, "add", unavailable)
    try:
        update = make_update("/set weight_kg 72")
        assert bot.post(update).status_code == 503
    finally:
        live_redis.cli("CONFIG", "SET", "maxmemory", "0")
    monkeypatch.undo()
    assert "Saved" in bot.post(update).json()["text"]  # the redelivery, answered from what was committed
    assert "72 kg" in bot.say("/profile")


def test_writes_outside_a_turn_record_an_intent_cleared_once_redis_took_it():
    from memory.services import profile_ensure, profile_update

    profile_ensure(user_id=5)
    seen = []
    original = outbox.add

    def spying(keys):
        keys = list(keys)
        seen.append(keys)
        original(keys)

    import caching.consistency.outbox

    caching.consistency.outbox.add = spying
    try:
        profile_update(user_id=5, field="weight_kg", raw_value="80")
    finally:
        caching.consistency.outbox.add = original
    assert seen == [[user_memory_key(5)]]  # written inside the transaction
    assert PendingInvalidation.objects.pending().count() == 0  # and cleared after Redis took it


def test_a_probe_replays_each_row_once_even_while_another_transaction_deletes_it(live_redis):
    """A row that another transaction has deleted but not committed stays listed, and SKIP LOCKED
    leaves it to that one: the probe must go on, not read it again until that commit (which may be
    waiting for a lock the probing turn holds)."""
    import threading

    from django.core.cache import cache
    from django.db import connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED and two transactions at once: PostgreSQL (CI sets DATABASE_URL)")
    PendingInvalidation.objects.create(key=user_memory_key(42))
    locked, release = threading.Event(), threading.Event()

    def deleting_elsewhere():
        with transaction.atomic():
            PendingInvalidation.objects.select_for_update().filter(key=user_memory_key(42)).delete()
            locked.set()
            release.wait(10)
        connections.close_all()

    other = threading.Thread(target=deleting_elsewhere)
    other.start()
    assert locked.wait(10)
    done = threading.Event()

    def probe():
        with transaction.atomic():  # a probe inside a turn's transaction: _delete skips locked rows
            outbox.replay_before_probe(cache.client.get_client(write=True), cache)
        done.set()
        connections.close_all()

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    finished = done.wait(5)
    release.set()
    other.join(10)
    assert finished, "the probe kept replaying a row another transaction was deleting"
    assert PendingInvalidation.objects.pending().count() == 0
