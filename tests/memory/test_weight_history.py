"""The weight history: every weight said or /set is kept with its date, the profile's weight is the
latest, /weight shows the trend; it is part of the cached user memory, kept fresh on commit like
the rest of it. The pending question lives there too, so any worker sees it."""

import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from caching.api import invalidate_user, user_memory_key
from memory.models import Profile, WeightEntry
from memory.selectors import WEIGHTS_KEPT, is_user_memory, load_user_memory
from nutrition.models import FoodEntry
from tests.factories import ProfileFactory


@pytest.mark.django_db(transaction=True)
def test_a_weight_saved_or_deleted_elsewhere_drops_the_cached_memory_on_commit():
    ProfileFactory(telegram_id=42)
    assert load_user_memory(user_id=42)["weights"] == []
    assert cache.get(user_memory_key(42)) is not None  # cached
    entry = WeightEntry.objects.create(user_id=42, kg=Decimal("70.5"))  # as the admin would
    assert cache.get(user_memory_key(42)) is None
    assert [kg for _, kg in load_user_memory(user_id=42)["weights"]] == [70.5]
    entry.delete()
    assert cache.get(user_memory_key(42)) is None
    assert load_user_memory(user_id=42)["weights"] == []


@pytest.mark.django_db(transaction=True)
def test_set_and_said_weights_are_all_kept_and_the_profile_has_the_latest(bot):
    bot.say("/set weight_kg 80")
    bot.say("my weight is 79.5 kg")
    bot.say("/weight 79")
    assert list(WeightEntry.objects.order_by("id").values_list("kg", flat=True)) == [
        Decimal("80.0"), Decimal("79.5"), Decimal("79.0")]
    assert Profile.objects.get(pk=42).weight_kg == Decimal("79.0")
    # Kept warm: the cached memory has the three weights, newest first, without a reload.
    cached = cache.get(user_memory_key(42))
    assert [kg for _, kg in cached["weights"]] == [79.0, 79.5, 80.0]


@pytest.mark.django_db
def test_weight_shows_the_last_entries_and_the_change_over_7_and_30_days(bot):
    bot.say("/start")
    now = timezone.now()
    for days, kg in ((40, "75"), (10, "73"), (3, "72.5"), (0, "72")):
        WeightEntry.objects.create(user_id=42, kg=Decimal(kg), measured_at=now - datetime.timedelta(days=days))
    invalidate_user(user_id=42)
    reply = bot.say("/weight")
    assert "<b>Your weight</b>: 72 kg" in reply
    assert "Change: −1 kg over 7 days · −3 kg over 30 days" in reply
    assert reply.count(" kg ·") >= 3  # the last entries listed
    assert "−1 kg over 7 days" in bot.say("how has my weight changed?")


@pytest.mark.django_db

@pytest.mark.django_db
def test_user_memory_keeps_the_last_weights_only(bot):
    bot.say("/start")
    now = timezone.now()
    WeightEntry.objects.bulk_create([WeightEntry(user_id=42, kg=Decimal(70), measured_at=now - datetime.timedelta(hours=i))
                                     for i in range(WEIGHTS_KEPT + 5)])
    invalidate_user(user_id=42)
    memory = load_user_memory(user_id=42)
    assert len(memory["weights"]) == WEIGHTS_KEPT and is_user_memory(memory)
    assert not is_user_memory({**memory, "weights": memory["weights"] + [["x", 70.0]]})
    assert not is_user_memory({**memory, "pending": {"items": []}})
    assert not is_user_memory({**memory, "pending": {"items": [{"said": 1}]}})


@pytest.mark.django_db(transaction=True)
def test_the_question_waits_in_the_database_for_any_worker(bot):
    bot.say("/start")
    assert "❓ How much butter?" in bot.say("I had butter")
    pending = Profile.objects.get(pk=42).pending
    assert pending == {"items": [{"said": "butter", "query": "butter", "to": "", "addition": False}]}
    assert cache.get(user_memory_key(42))["pending"] == pending  # kept warm on commit
    cache.clear()  # another worker, or Redis restarted empty: the database still has the question
    assert "Logged 10 g butter" in bot.say("10 g")
    assert FoodEntry.objects.get().grams == Decimal("10.0")
    assert Profile.objects.get(pk=42).pending is None
    assert load_user_memory(user_id=42)["pending"] is None


@pytest.mark.django_db(transaction=True)
def test_a_message_that_is_no_answer_drops_the_question(bot):
    bot.say("/start")
    bot.say("I had butter")
    assert "Nothing logged today" in bot.say("/today")
    assert Profile.objects.get(pk=42).pending is None
    bot.say("2")  # no longer an answer to anything
    assert FoodEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_answer_turn_reads_the_question_from_the_cache(bot):
    bot.say("/start")
    bot.say("I had chicken")
    with CaptureQueriesContext(connection) as ctx:
        assert "Logged 150 g chicken" in bot.say("150 g")
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert not any("memory_profile" in sql and "pending" in sql for sql in selects), selects


def test_a_cached_weight_row_of_the_wrong_shape_is_refused():
    """The hit check written out for speed (memory/selectors._is_weights) refuses what the spelled-out
    checks refused: a bool, a number out of range, a None, a time too long or with a NUL, a short row."""
    good = {"profile": {"name": "", "username": "", "age": None, "sex": "", "height_cm": None, "weight_kg": None,
                        "activity": "", "goal": "", "kcal_target": None, "tz": "", "language": "",
                        "app_language": ""},
            "preferences": {}, "weights": [["2026-11-01T08:00:00+00:00", 70.0], ["2026-10-01T08:00:00+00:00", 71]],
            "pending": None}
    assert is_user_memory(good)
    for row in (["t", True], ["t", 19.9], ["t", 400.5], ["t", None], ["t" * 41, 70.0], ["t\x00", 70.0], [None, 70.0],
                ["t"], ["t", 70.0, 1], ("t", 70.0), ["t", "70"]):
        assert not is_user_memory({**good, "weights": [row]}), row
