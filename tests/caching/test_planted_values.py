"""Whoever can write to Redis (a shared or compromised cache) must not take the bot down: values
planted at every namespace's keys and in the stats hash cost 0 × 500 and the bot answers from the
database, as if the value were not there."""

import json
import logging

import orjson
import pytest
from django.core.cache import cache

from caching.backend import stats
from caching.ops.report import read_fleet_stats
from caching.keys import conversation_history_key, user_memory_key, usda_key
from caching.backend.stats import counters_from_hash
from conversations.selectors import get_conversation_history, is_history
from memory.selectors import is_user_memory, load_user_memory
from nutrition.selectors import is_food_list, normalise_query, search_foods
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food
from tests.telegram import make_update

# Committed turns, as in production: invalidations and appends run on commit.
pytestmark = pytest.mark.django_db(transaction=True)


def raw_redis(fn):
    return cache.guarded(fn)


def plant(key, raw: bytes):
    rkey = cache.make_and_validate_key(key)
    assert raw_redis(lambda r: r.set(rkey, raw)) is True


def stored(key):
    rkey = cache.make_and_validate_key(key)
    return raw_redis(lambda r: r.get(rkey))


PROFILE = {"name": "Ada", "username": "ada", "age": None, "sex": "", "height_cm": None, "weight_kg": None,
           "activity": "", "goal": "", "kcal_target": None, "tz": "", "language": "", "app_language": ""}


def memory_with(**profile):
    return json.dumps({"profile": {**PROFILE, **profile}, "preferences": {}}).encode()


# Bytes no data path can use: other formats, corrupt JSON, JSON of the wrong shape.
ANY_PATH = [
    b"\x01garbage",  # the bytes format: a bytes value is no data path's shape
    b"\x01",
    b"\x02" + b"\x00" * 40,  # signed format, bad signature
    b"\x02short",
    b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",  # a bare pickle
    b"\x00",
    b"\xff\xfe\xfd",
    b"{not json",
    b'"a string"',
    b"42",
    b"true",
    b'{"a": 1}',
    b"[" * 300 + b"]" * 300,
]
MEMORY_ONLY = [
    b"[1, 2]",
    b"[]",
    b'{"profile": [], "preferences": {}}',
    b'{"profile": {}, "preferences": []}',
    memory_with(name="Eve\u0000"),  # jsonb refuses \u0000: the reply could not be stored
    memory_with(name=["Eve"]),
    memory_with(name="E" * 5000),
    memory_with(weight_kg="abc", height_cm=170.0),
    memory_with(weight_kg=70.0, height_cm=0.0),
    memory_with(weight_kg=1e308, height_cm=170.0, age=30, sex="male"),
    memory_with(sex="robot", weight_kg=70.0, height_cm=170.0, age=30),
    memory_with(age=True),
    memory_with(kcal_target=10**30),
    orjson.dumps({"profile": PROFILE, "preferences": {"diet": 1}}),
    orjson.dumps({"profile": PROFILE, "preferences": {"d\u0000": "x"}}),
    orjson.dumps({"profile": {k: v for k, v in PROFILE.items() if k != "name"}, "preferences": {}}),
]
ROW = {"id": 1, "role": "user", "content": "hello", "created_at": "2026-01-01T00:00:00.000000+00:00"}
HISTORY_ONLY = [
    b"null",
    b'{"-1": {"id": 1}}',  # was KeyError: -1
    b"[1, 2]",
    orjson.dumps([{"id": "x"}]),
    orjson.dumps([{**ROW, "id": None}]),
    orjson.dumps([{**ROW, "role": "system"}]),
    orjson.dumps([{**ROW, "role": ["user"]}]),
    orjson.dumps([{**ROW, "content": None}]),
    orjson.dumps([{**ROW, "content": "a\u0000b"}]),
    orjson.dumps([{**ROW, "created_at": 5}]),
    orjson.dumps([ROW, "row"]),
]
FOOD = {"fdc_id": 1, "description": "Planted", "data_type": "", "brand": None, "kcal": 1.0, "protein": 1.0,
        "fat": 1.0, "carbs": 1.0, "fiber": None, "sugars": None, "sodium_mg": None, "serving_size": None,
        "serving_unit": None, "source": "usda"}
USDA_ONLY = [
    b"null",
    b"[1, 2]",
    b'[{"a": 1}]',  # was AttributeError / KeyError in /food
    orjson.dumps([{**FOOD, "description": None}]),
    orjson.dumps([{**FOOD, "description": ""}]),
    orjson.dumps([{**FOOD, "description": "a\u0000b"}]),
    orjson.dumps([{**FOOD, "kcal": "lots"}]),
    orjson.dumps([{**FOOD, "kcal": 1e300}]),  # the diary's Decimal arithmetic cannot hold it
    orjson.dumps([{**FOOD, "kcal": -5}]),
    json.dumps([{**FOOD, "fdc_id": 2**64}]).encode(),
    orjson.dumps([{**FOOD, "brand": 3}]),
]


def _refused(events, namespace):
    return (namespace, "error") in events and (namespace, "miss") in events and (namespace, "hit") not in events


# --- user_memory ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ANY_PATH + MEMORY_ONLY)
def test_planted_user_memory_is_refused_and_the_bot_answers_from_the_database(bot, raw, caplog):
    bot.say("/start")
    bot.say("/set weight_kg 70")
    bot.say("/set height_cm 175")
    plant(user_memory_key(42), raw)
    with stats.capture() as events, caplog.at_level(logging.WARNING, logger="caching.backend.cache"):
        text = bot.say("/profile")
    assert "Name: Ada" in text and "Weight: 70 kg" in text and "BMI 22.9" in text
    assert _refused(events, "user_memory")
    assert any("refused the cached value" in r.getMessage() for r in caplog.records)
    # Deleted and filled again from the database: the next turn is a hit on a good value.
    assert is_user_memory(orjson.loads(stored(user_memory_key(42))))
    with stats.capture() as events:
        assert "Weight: 70 kg" in bot.say("/profile")
    assert ("user_memory", "hit") in events and ("user_memory", "error") not in events


def test_a_refused_value_is_deleted_even_when_the_fill_cannot_replace_it(bot, monkeypatch):
    from caching.consistency import reads

    bot.say("/start")
    plant(user_memory_key(42), memory_with())
    monkeypatch.setattr(reads, "_fill", lambda *args, **kwargs: None)  # invalidated while loading
    loaded = reads.read_through(user_memory_key(42), lambda: "loaded", timeout=60, valid=lambda v: False)
    assert loaded == "loaded"
    assert stored(user_memory_key(42)) is None


def test_cached_profile_with_a_nul_in_the_name_does_not_break_profile(bot):
    bot.say("/start")
    plant(user_memory_key(42), memory_with(name="Eve\u0000"))
    text = bot.say("/profile")
    assert "Name: Ada" in text and "\x00" not in text
    update = make_update("/profile")
    first = bot.post(update)
    assert first.status_code == 200 and "\x00" not in json.dumps(first.json())
    assert bot.post(update).json() == first.json()  # stored for redelivery


def test_validator_accepts_what_the_database_gives(bot):
    bot.say("/start")
    for command in ("/set age 34", "/set sex female", "/set height_cm 172.5", "/set weight_kg 70.5",
                    "/set activity very active", "/set goal lose", "/set kcal_target 2000", "/pref diet vegan"):
        bot.say(command)
    cache.clear()
    memory = load_user_memory(user_id=42)
    assert memory["profile"]["height_cm"] == 172.5
    assert is_user_memory(memory) and is_user_memory(None)


# --- conversation_history -------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ANY_PATH + HISTORY_ONLY)
def test_planted_history_is_refused_and_the_bot_answers_from_the_database(bot, raw):
    bot.say("/start")
    bot.say("I ate <3 apples")
    plant(conversation_history_key(42), raw)
    with stats.capture() as events:
        text = bot.say("what did I say before?")
    assert "Earlier you said: “I ate &lt;3 apples”" in text
    assert _refused(events, "conversation_history")
    with stats.capture() as events:
        assert "<b>You:</b> what did I say before?" in bot.say("/history 3")
    assert ("conversation_history", "error") not in events


@pytest.mark.parametrize("raw", [b"\x01garbage", b'{"a": 1}', orjson.dumps([{"id": 1}])])
def test_planted_history_is_dropped_by_an_append_on_commit(bot, raw):
    """A message saved without a read first (admin, another process): the append on commit finds the
    planted value and drops the entry instead of failing the commit's callbacks."""
    from conversations.models import Message
    from conversations.services import message_save
    from django.db import transaction

    bot.say("/start")
    plant(conversation_history_key(42), raw)
    with transaction.atomic():
        message_save(user_id=42, role=Message.Role.USER, content="typed elsewhere")
    assert stored(conversation_history_key(42)) is None
    assert get_conversation_history(user_id=42, limit=1)[0]["content"] == "typed elsewhere"


def test_history_validator_accepts_what_the_database_gives(bot):
    bot.say("/start")
    bot.say("hello")
    cache.clear()
    assert is_history(get_conversation_history(user_id=42, limit=50)) and is_history([])


# --- usda -----------------------------------------------------------------------------------------

@pytest.fixture
def usda_bot(bot, fake_fdc):
    fake_fdc.add(200, {"foods": [fdc_food(fdc_id=1105314, description="Apples, raw", nutrients=BANANA_NUTRIENTS)]})
    bot.say("/start")
    return bot


@pytest.mark.parametrize("raw", ANY_PATH + USDA_ONLY)
def test_planted_usda_value_is_refused_and_food_answers_from_fdc(usda_bot, fake_fdc, raw):
    plant(usda_key(normalise_query("apple"), 5), raw)
    before = stats.local_counts()["usda"]
    text = usda_bot.say("/food apple")
    after = stats.local_counts()["usda"]
    assert "<b>Apples, raw</b> — 89 kcal" in text
    # The planted value was read as a hit, then refused: counted as a miss and an error instead.
    assert (after["hits"] - before["hits"], after["errors"] - before["errors"]) == (0, 1)
    assert after["misses"] - before["misses"] >= 1
    assert len(fake_fdc.requests) == 1
    assert is_food_list(orjson.loads(stored(usda_key(normalise_query("apple"), 5))))
    # /log reads the limit-1 key: planted there too, the diary gets the real food.
    plant(usda_key(normalise_query("apple"), 1), raw)
    assert "Logged 100 g apple: <b>Apples, raw</b> — 89 kcal" in usda_bot.say("/log 100 g apple")


def test_a_value_planted_over_one_that_passed_is_checked_again(usda_bot, fake_fdc):
    """A hit skips the shape check only for the bytes that passed it (caching/backend/verdicts.py)."""
    assert is_food_list(search_foods(query="apple", limit=5))
    assert is_food_list(search_foods(query="apple", limit=5))  # a hit: its bytes passed
    plant(usda_key(normalise_query("apple"), 5), b'[{"a": 1}]')
    with stats.capture() as events:
        assert is_food_list(search_foods(query="apple", limit=5))
    assert events.count(("usda", "error")) == 1 and len(fake_fdc.requests) == 2


def test_usda_value_planted_again_after_the_refusal_is_not_used(fake_fdc, monkeypatch):
    from nutrition import selectors

    fake_fdc.add(200, {"foods": [fdc_food(fdc_id=7, description="Real", nutrients=BANANA_NUTRIENTS)]})
    key = usda_key(normalise_query("pear"), 5)
    real_fetch = selectors._fetch_foods

    def planting_fetch(*args):
        plant(key, b'[{"a": 1}]')  # someone keeps writing there: again while the refused value is filled
        return real_fetch(*args)

    plant(key, b'[{"a": 1}]')
    monkeypatch.setattr(selectors, "_fetch_foods", planting_fetch)
    with stats.capture() as events:
        foods = search_foods(query="pear", limit=5)
    assert [food["description"] for food in foods] == ["Real"]
    assert events.count(("usda", "error")) == 2
    # The fill's upstream call, then the one answered without the cache (the key was planted again).
    assert len(fake_fdc.requests) == 2


def test_food_validator_accepts_what_the_providers_give(usda_bot, settings):
    assert is_food_list(search_foods(query="apple", limit=5))
    settings.NUTRITION_PROVIDER = "sample"
    assert is_food_list(search_foods(query="banana", limit=5))


# --- the stats hash -------------------------------------------------------------------------------

@pytest.mark.parametrize("planted", [b"abc", b"\xff", b"1.5", b"\xc2\xb2", b"1" * 30, b"", b"-", b" 7"])
def test_a_non_integer_stats_field_is_skipped_logged_and_cleared(admin_client, bot, caplog, planted):
    bot.say("/start")
    stats.flush()
    raw_redis(lambda r: r.hset(cache.stats_key, "user_memory:misses", planted))
    with caplog.at_level(logging.WARNING, logger="caching.backend.stats"):
        response = admin_client.get("/admin/cache/")
        report = read_fleet_stats()
    assert response.status_code == 200
    assert report["namespaces"]["user_memory"]["sets"] >= 1  # the good counters are still reported
    assert type(report["namespaces"]["user_memory"]["misses"]) is int
    assert any("not integers" in r.getMessage() for r in caplog.records)
    value = raw_redis(lambda r: r.hget(cache.stats_key, "user_memory:misses"))
    assert value is None or value.isdigit()


def test_counters_from_hash_skips_bad_fields():
    counters = counters_from_hash({b"usda:hits": b"5", b"usda:misses": b"abc", b"\xff:hits": b"1",
                                   b"usda:sets": b"-3"})
    assert counters["usda"]["hits"] == 5 and counters["usda"]["misses"] == 0 and counters["usda"]["sets"] == -3


def test_a_flush_that_partly_fails_does_not_count_twice(bot):
    bot.say("/start")
    stats.flush()
    stats.reset()
    for _ in range(3):
        stats.record("usda", stats.HIT)
        stats.record("usda", stats.MISS)
    # (The flusher thread may send these before this test's flush does: the outcome is the same.)
    raw_redis(lambda r: r.hset(cache.stats_key, "usda:misses", "abc"))
    stats.flush()  # usda:misses is refused (and cleared), usda:hits lands
    for _ in range(5):
        stats.flush()  # no traffic: nothing may grow
    fields = raw_redis(lambda r: r.hgetall(cache.stats_key))
    assert fields[b"usda:hits"] == b"3"
    assert fields[b"usda:misses"] == b"3"  # cleared, then sent again once
    assert read_fleet_stats()["namespaces"]["usda"] | {"hit_rate": None} == {
        "hits": 3, "misses": 3, "hit_rate": None, "sets": 0, "deletes": 0, "errors": 0, "bypassed": 0}


def test_a_stats_key_that_is_not_a_hash_costs_no_500(admin_client, bot):
    raw_redis(lambda r: r.set(cache.stats_key, "planted"))
    assert "Hi Ada" in bot.say("/start")
    assert stats.flush() is False  # every HINCRBY refused (WRONGTYPE): nothing marked sent
    assert admin_client.get("/admin/cache/").status_code == 200
    raw_redis(lambda r: r.delete(cache.stats_key))
    assert stats.flush() is True  # the kept counts land once the key is usable again
    assert raw_redis(lambda r: int(r.hget(cache.stats_key, "user_memory:misses"))) >= 1
