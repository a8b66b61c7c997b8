"""The three cached data paths end to end: warm turns, read-your-writes, write-through history."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caching.backend import serializer
from caching.backend import stats
from caching.keys import conversation_history_key, user_memory_key
from conversations.selectors import get_conversation_history
from conversations.services import message_save
from memory.selectors import load_user_memory
from memory.services import preference_delete, preference_set, profile_ensure, profile_update, user_forget

pytestmark = pytest.mark.django_db(transaction=True)


def _selects(queries, *tables):
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")
            and any(t in q["sql"] for t in tables)]


def test_warm_turn_runs_no_select_for_memory_or_history(bot):
    bot.say("/start")
    bot.say("hello")
    with CaptureQueriesContext(connection) as ctx, stats.capture() as events:
        assert "Earlier you said: “hello”" in bot.say("what did I say before?")
    assert _selects(ctx.captured_queries, "memory_profile", "memory_preference", "conversations_message") == []
    assert ("user_memory", "hit") in events and ("conversation_history", "hit") in events
    assert ("user_memory", "miss") not in events and ("conversation_history", "miss") not in events


def test_history_is_appended_on_commit_not_dropped(bot):
    bot.say("/start")
    before = len(get_conversation_history(user_id=42, limit=50))
    bot.say("/pref diet vegan")
    with stats.capture() as events:
        history = get_conversation_history(user_id=42, limit=50)
    assert events == [("conversation_history", "hit")]
    assert len(history) == before + 2
    assert [m["content"] for m in history[-2:]] == ["/pref diet vegan", "Noted: diet = vegan"]


def test_every_write_is_visible_to_the_next_read():
    profile_ensure(user_id=7, name="Ann")
    assert load_user_memory(user_id=7)["profile"]["weight_kg"] is None  # now cached
    profile_update(user_id=7, field="weight_kg", raw_value="71")
    assert load_user_memory(user_id=7)["profile"]["weight_kg"] == 71.0
    preference_set(user_id=7, key="diet", value="vegan")
    assert load_user_memory(user_id=7)["preferences"] == {"diet": "vegan"}
    preference_set(user_id=7, key="diet", value="keto")
    assert load_user_memory(user_id=7)["preferences"] == {"diet": "keto"}
    preference_delete(user_id=7, key="diet")
    assert load_user_memory(user_id=7)["preferences"] == {}

    assert get_conversation_history(user_id=7, limit=5) == []  # cached empty
    message_save(user_id=7, role="user", content="first")
    assert [m["content"] for m in get_conversation_history(user_id=7, limit=5)] == ["first"]
    message_save(user_id=7, role="assistant", content="not understood", helpful=False)
    message_save(user_id=7, role="user", content="second")
    assert [m["content"] for m in get_conversation_history(user_id=7, limit=5)] == ["first", "second"]

    user_forget(user_id=7)
    assert load_user_memory(user_id=7) is None
    assert get_conversation_history(user_id=7, limit=5) == []


def test_any_limit_up_to_50_is_served_from_one_entry():
    profile_ensure(user_id=8)
    for i in range(60):
        message_save(user_id=8, role="user", content=f"m{i}")
    assert [m["content"] for m in get_conversation_history(user_id=8, limit=50)][0] == "m10"
    with stats.capture() as events, CaptureQueriesContext(connection) as ctx:
        for limit in (1, 5, 20, 50):
            rows = get_conversation_history(user_id=8, limit=limit)
            assert [m["content"] for m in rows] == [f"m{i}" for i in range(60 - limit, 60)]
    # Outside a bot turn each read asks the database whether an invalidation is pending (one EXISTS on
    # the outbox, caching/consistency/fence.py); a turn folds that into its claim. Nothing reads the messages.
    assert events == [("conversation_history", "hit")] * 4
    assert len(ctx.captured_queries) == 4
    assert all("caching_pendinginvalidation" in q["sql"] and "conversations_message" not in q["sql"]
               for q in ctx.captured_queries)
    assert len(get_conversation_history(user_id=8, limit=55)) == 55  # beyond the entry: the database


def test_reads_inside_a_transaction_see_its_own_writes_and_do_not_fill():
    from django.core.cache import cache
    from django.db import transaction

    profile_ensure(user_id=9)
    message_save(user_id=9, role="user", content="committed")
    assert len(get_conversation_history(user_id=9, limit=10)) == 1  # cached
    with transaction.atomic():
        message_save(user_id=9, role="user", content="pending")
        assert [m["content"] for m in get_conversation_history(user_id=9, limit=10)] == ["committed", "pending"]
        profile_update(user_id=9, field="age", raw_value="40")
        assert load_user_memory(user_id=9)["profile"]["age"] == 40
        # Nothing uncommitted reached Redis.
        assert [m["content"] for m in cache.get(conversation_history_key(9))] == ["committed"]
        assert cache.get(user_memory_key(9))["profile"]["age"] is None  # as committed
    assert [m["content"] for m in get_conversation_history(user_id=9, limit=10)] == ["committed", "pending"]


def test_rolled_back_writes_leave_the_cache_alone():
    from django.db import transaction

    profile_ensure(user_id=10)
    message_save(user_id=10, role="user", content="kept")
    get_conversation_history(user_id=10, limit=10)
    with pytest.raises(RuntimeError), transaction.atomic():
        message_save(user_id=10, role="user", content="rolled back")
        raise RuntimeError
    with stats.capture() as events:
        assert [m["content"] for m in get_conversation_history(user_id=10, limit=10)] == ["kept"]
    assert events == [("conversation_history", "hit")]


def test_bot_writes_are_visible_to_the_next_turn_with_a_warm_cache(bot):
    bot.say("/start")
    bot.say("/profile")  # memory and history now cached
    bot.say("/set weight_kg 72.5")
    assert "Weight: 72.5 kg" in bot.say("/profile")
    bot.say("/pref diet vegan")
    assert "diet: vegan" in bot.say("/prefs")
    bot.say("/pref diet -")
    assert "No preferences yet" in bot.say("/prefs")
    assert "/pref diet -" in bot.say("/history 4")
    bot.say("/forget yes")
    assert "Weight: —" in bot.say("/profile")
    assert "/pref diet" not in bot.say("/history 50")


def test_cached_entries_are_plain_json_not_pickle(bot):
    """Application data must stay JSON (ARCHITECTURE.md §5.5): a stray enum or Decimal would silently turn
    an entry into signed pickle."""
    from django.core.cache import cache

    bot.say("/start")
    bot.say("/set weight_kg 70.5")
    bot.say("hello")
    for key in (user_memory_key(42), conversation_history_key(42)):
        raw = cache.guarded(lambda r: r.get(cache.make_and_validate_key(key)))
        assert raw is not None and serializer.uncompressed(raw)[:1] in (b"{", b"["), (key, raw[:20])


def test_disabled_cache_keeps_no_outbox(settings):
    from caching.models import PendingInvalidation

    settings.CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}
    profile_ensure(user_id=11)
    profile_update(user_id=11, field="age", raw_value="30")
    message_save(user_id=11, role="user", content="hi")
    assert get_conversation_history(user_id=11, limit=5)[0]["content"] == "hi"
    assert PendingInvalidation.objects.pending().count() == 0
