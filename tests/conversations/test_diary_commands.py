"""Fixing mistakes: /undo, numbered /today with /delete N, /forget asking first; days in the
user's own time zone."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from memory.models import Profile
from nutrition.models import FoodEntry
from nutrition.selectors import diary_day
from tests.factories import FoodEntryFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def test_undo_removes_the_last_entry_only(bot):
    bot.say("/log 2 eggs")
    bot.say("/log 100 g banana")
    assert bot.say("/undo") == "Removed 100 g Bananas, raw, 89 kcal. See the day with /today"
    assert list(FoodEntry.objects.values_list("description", flat=True)) == ["Egg, whole, raw, fresh"]
    assert "Removed 2 eggs (100 g Egg, whole, raw, fresh), 143 kcal." in bot.say("/undo")
    assert bot.say("/undo") == "Your diary is empty: nothing to undo."


def test_today_numbers_entries_and_delete_takes_one_out(bot):
    for text in ("/log 2 eggs", "/log 100 g banana", "/log 1 cup rice"):
        bot.say(text)
    today = bot.say("/today")
    # In the user's words where they did not weigh it.
    assert "1. 2 eggs (100 g Egg, whole, raw, fresh) — 143 kcal" in today
    assert "2. 100 g Bananas, raw — 89 kcal" in today
    assert "3. 1 cup of rice (158 g Rice" in today
    assert "Removed entry 2: 100 g Bananas, raw, 89 kcal" in bot.say("/delete 2")
    after = bot.say("/diary")
    assert "Bananas" not in after and "2. 1 cup of rice (158 g Rice" in after
    assert FoodEntry.objects.count() == 2


@pytest.mark.parametrize(("command", "expected"), [
    ("/delete", "Usage: /delete N"),
    ("/delete x", "Usage: /delete N"),
    ("/delete ٣", "Usage: /delete N"),  # an Arabic-Indic digit is a digit, but not one we number with
    ("/delete 0", "Choose an entry from 1 to 1"),
    ("/delete 5", "Choose an entry from 1 to 1"),
])
def test_delete_refuses_what_it_cannot_find(bot, command, expected):
    bot.say("/log 2 eggs")
    assert expected in bot.say(command)
    assert FoodEntry.objects.count() == 1


def test_delete_with_an_empty_day(bot):
    assert "Nothing logged today" in bot.say("/delete 1")


def test_other_users_entries_are_untouchable(bot):
    other = FoodEntryFactory()
    bot.say("/start")
    assert bot.say("/undo") == "Your diary is empty: nothing to undo."
    assert FoodEntry.objects.filter(pk=other.pk).exists()


def test_forget_asks_first_then_deletes(bot):
    bot.say("/log 2 eggs")
    assert "/forget yes" in bot.say("/forget")
    assert "/forget yes" in bot.say("/forget please")
    assert FoodEntry.objects.count() == 1 and Profile.objects.filter(pk=42).exists()
    assert "deleted" in bot.say("/forget yes")
    assert not Profile.objects.filter(pk=42).exists() and FoodEntry.objects.count() == 0


def test_set_tz_is_validated_against_zoneinfo(bot):
    assert bot.say("/set tz europe/berlin") == "Saved: time zone Europe/Berlin."
    assert Profile.objects.get(pk=42).tz == "Europe/Berlin"
    assert "tz must be a time zone name like Europe/Berlin" in bot.say("/set tz Mars/Olympus")
    assert Profile.objects.get(pk=42).tz == "Europe/Berlin"
    assert "Time zone: Europe/Berlin" in bot.say("/profile")


def test_diary_day_runs_midnight_to_midnight_in_the_users_zone():
    user = ProfileFactory()
    utc = datetime.timezone.utc
    # 23:30 UTC on 1 January is 00:30 on 2 January in Berlin; 23:30 UTC on 2 January is the 3rd there.
    early = FoodEntryFactory(user=user, eaten_at=datetime.datetime(2026, 1, 1, 23, 30, tzinfo=utc))
    FoodEntryFactory(user=user, eaten_at=datetime.datetime(2026, 1, 2, 23, 30, tzinfo=utc))
    day = diary_day(user_id=user.pk, day=datetime.date(2026, 1, 2), tz="Europe/Berlin")
    assert [e["id"] for e in day["entries"]] == [early.pk]
    assert diary_day(user_id=user.pk, day=datetime.date(2026, 1, 2), tz="UTC")["kcal"] == Decimal("133.5")


def test_today_uses_the_users_zone(bot, monkeypatch, settings):
    settings.TIME_ZONE = "UTC"
    # 22:00 UTC on 2 January: still the 2nd in UTC, already the 3rd in Tokyo (UTC+9).
    now = datetime.datetime(2026, 1, 2, 22, 0, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(timezone, "now", lambda: now)
    bot.say("/start")
    # 14:00 UTC on the 2nd: 23:00 on the 2nd in Tokyo.
    FoodEntryFactory(user=Profile.objects.get(pk=42), eaten_at=now - datetime.timedelta(hours=8))
    assert "1. 150 g Bananas, raw" in bot.say("/today")
    bot.say("/set tz Asia/Tokyo")
    assert "Nothing logged today yet" in bot.say("/today")  # 07:00 on the 3rd in Tokyo: a new day
    assert "1. 150 g Bananas, raw" in bot.say("/diary yesterday")
    assert ZoneInfo("Asia/Tokyo")  # the name the test relies on exists


def test_set_refuses_exponents_as_log_does(bot):
    # /log 1e2 g x was refused while /set kcal_target 1e4 was accepted: both take plain numbers now.
    assert "kcal_target must be a whole number from 800 to 10000" in bot.say("/set kcal_target 1e4")
    assert "Amount must be a plain number" in bot.say("/log 1e2 g banana")
    assert Profile.objects.get(pk=42).kcal_target is None and FoodEntry.objects.count() == 0
