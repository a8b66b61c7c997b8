"""Reminders and the evening summary: what the user types, when each comes (their zone, quiet hours),
firing exactly once per occurrence, missed ones sent once or dropped as stale."""

from __future__ import annotations

import datetime
import html
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conversations.delivery.queue import claim
from conversations.models import OutgoingMessage, Reminder
from conversations.reminders import parse
from conversations.reminders.schedule import Quiet, Schedule, next_occurrence
from conversations.reminders.services import fire_due
from healthagent.errors import ApplicationError
from memory.models import Profile

pytestmark = pytest.mark.django_db
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def at(hour: int, minute: int = 0, day: int = 3, zone=UTC) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=zone).astimezone(UTC)


# --- reading what the user asked -----------------------------------------------------------------
@pytest.mark.parametrize("args, repeat, minute, text, kind", [
    ("13:00 log lunch", "once", 13 * 60, "log lunch", "text"),
    ("at 1:30pm call mum", "once", 13 * 60 + 30, "call mum", "text"),
    ("every day 21:00 summary", "daily", 21 * 60, "summary", "summary"),
    ("daily at 7am take vitamins", "daily", 7 * 60, "take vitamins", "text"),
])
def test_command_forms(args, repeat, minute, text, kind):
    spec = parse.parse_command(args, now=NOW)
    assert isinstance(spec, parse.Spec)
    assert (spec.schedule.repeat, spec.schedule.at_minute, spec.text, spec.kind) == (repeat, minute, text, kind)


def test_interval_and_relative_forms():
    spec = parse.parse_command("every 2 hours between 9 and 18 drink water", now=NOW)
    assert spec.schedule == Schedule("interval", every_minutes=120, window_start=540, window_end=1080)
    assert spec.text == "drink water"
    spec = parse.parse_command("in 20 minutes take the pizza out", now=NOW)
    assert spec.fire_at == NOW + datetime.timedelta(minutes=20) and spec.text == "take the pizza out"
    assert parse.parse_command("off 2", now=NOW) == parse.Off("2")


@pytest.mark.parametrize("text, expected", [
    ("remind me to drink water every 2 hours between 9 and 18",
     (Schedule("interval", every_minutes=120, window_start=540, window_end=1080), "drink water")),
    ("Remind me at 8pm to call mum", (Schedule("once", at_minute=20 * 60), "call mum")),
    ("remind me to eat 2 eggs at 8", (Schedule("once", at_minute=8 * 60), "eat 2 eggs")),
    ("please remind me to stretch every day at 7:30", (Schedule("daily", at_minute=7 * 60 + 30), "stretch")),
])
def test_free_text_forms(text, expected):
    spec = parse.parse_text(text, now=NOW)
    assert (spec.schedule, spec.text) == expected


@pytest.mark.parametrize("args, fix", [
    ("", "Tell me when and what"),
    ("25:00 lunch", "couldn't read the time"),
    ("13:00", "What should I remind you of"),
    ("every 5 minutes spam", "15 minutes to 12 hours"),
    ("every 2 hours between 18 and 9 water", "from the first hour to a later one"),
    ("in 9 days later", "1 minute to 7 days"),
    ("tomorrow maybe", "Tell me when and what"),
    ("13:00 " + "x" * 201, "at most 200 characters"),
])
def test_bad_input_says_what_to_fix(args, fix):
    with pytest.raises(ApplicationError) as error:
        parse.parse_command(args, now=NOW)
    assert fix in error.value.message


# --- when it comes --------------------------------------------------------------------------------
def test_occurrences_are_local_times_in_the_users_zone():
    daily = Schedule("daily", at_minute=21 * 60)
    assert next_occurrence(daily, after=NOW, zone=BERLIN) == at(21, zone=BERLIN)  # 20:00 UTC in winter
    # across the spring DST change, still 21:00 local
    spring = datetime.datetime(2027, 3, 27, 21, 30, tzinfo=BERLIN).astimezone(UTC)
    assert next_occurrence(daily, after=spring, zone=BERLIN).astimezone(BERLIN).hour == 21


def test_interval_within_its_window_and_quiet_hours():
    water = Schedule("interval", every_minutes=120, window_start=540, window_end=1080)
    assert next_occurrence(water, after=at(10), zone=UTC) == at(11)
    assert next_occurrence(water, after=at(17), zone=UTC) == at(9, day=4)  # 18:00 is outside the 2-hour steps
    quiet = Quiet(11 * 60, 14 * 60)  # a repeating occurrence in quiet hours is skipped
    assert next_occurrence(water, after=at(10), zone=UTC, quiet=quiet) == at(15)
    once = Schedule("once", at_minute=23 * 60)  # a one-off is moved to the end of quiet hours
    assert next_occurrence(once, after=at(10), zone=UTC, quiet=Quiet(22 * 60, 7 * 60)) == at(7, day=4)


# --- the commands ---------------------------------------------------------------------------------
def test_remind_list_and_stop(bot):
    bot.say("/start")
    assert "OK: I'll remind you to log lunch" in bot.say("/remind 13:00 log lunch")
    assert "every day at 21:00" in html.unescape(bot.say("/remind every day 21:00 take vitamins"))
    assert "every 2 hours between 09:00 and 18:00" in bot.say(
        "remind me to drink water every 2 hours between 9 and 18")
    listed = bot.say("/reminders")
    assert "1. " in listed and "log lunch" in listed and "3. every 2 hours" in listed
    assert "Stopped" in bot.say("/remind off 2") and "vitamins" not in bot.say("/reminders")
    assert "Give the number of a reminder" in bot.say("/remind off 9")
    assert "couldn't read the time" in bot.say("/remind 24:61 nap")


def test_summary_opt_in_and_quiet_hours(bot):
    bot.say("/start")
    assert "summary of the day comes every day at 21:30" in bot.say("/summary on 21:30")
    assert Reminder.objects.filter(kind="summary", active=True).count() == 1
    bot.say("/summary on 20:00")  # a new time replaces the old one
    assert list(Reminder.objects.filter(kind="summary", active=True).values_list("at_minute", flat=True)) == [1200]
    assert "Quiet hours: 22:00–07:00" in bot.say("/quiet 22:00-07:00")
    assert "quiet hours are 22:00–07:00" in bot.say("/remind 23:00 sleep")
    assert "Usage: /quiet" in bot.say("/quiet whenever")
    assert "summary is off" in bot.say("/summary off")


def test_forget_deletes_reminders_and_queued_messages(bot):
    bot.say("/start")
    bot.say("/remind in 5 minutes stretch")
    OutgoingMessage.objects.create(user_id=42, chat_id=42, text="queued")
    bot.say("/forget yes")
    assert not Reminder.objects.exists() and not OutgoingMessage.objects.exists()


# --- firing ---------------------------------------------------------------------------------------
def _reminder(user_id=42, **fields) -> Reminder:
    Profile.objects.get_or_create(pk=user_id)
    defaults = {"kind": "text", "text": "stretch", "repeat": "daily", "at_minute": 12 * 60, "next_fire_at": at(12)}
    return Reminder.objects.create(user_id=user_id, **{**defaults, **fields})


def test_a_due_reminder_is_queued_once_and_moved_on():
    reminder = _reminder()
    assert fire_due(now=at(12, 0)) == {"queued": 1}
    assert fire_due(now=at(12, 0)) == {}  # nothing due any more
    message = OutgoingMessage.objects.get()
    assert message.text == "⏰ Reminder: stretch" and message.chat_id == 42 and message.status == "queued"
    reminder.refresh_from_db()
    assert reminder.next_fire_at == at(12, day=4)


def test_missed_while_down_sent_once_if_recent_dropped_if_stale():
    recent = _reminder(text="recent", next_fire_at=at(11, 30))  # 30 min late: still relevant
    stale = _reminder(text="stale", next_fire_at=at(6))  # 4 hours late
    water = _reminder(text="water", repeat="interval", at_minute=None, every_minutes=60, window_start=0,
                      window_end=23 * 60, next_fire_at=at(8))  # missed 08:00, 09:00, …: one message at most
    assert fire_due(now=at(12, 0)) == {"queued": 1, "stale": 2}
    assert list(OutgoingMessage.objects.values_list("text", flat=True)) == ["⏰ Reminder: recent"]
    for reminder in (recent, stale, water):
        reminder.refresh_from_db()
        assert reminder.next_fire_at > at(12)


def test_one_off_fires_once_and_ends():
    reminder = _reminder(repeat="once")
    fire_due(now=at(12, 1))
    reminder.refresh_from_db()
    assert (reminder.active, reminder.next_fire_at) == (False, None)


def test_blocked_users_get_nothing_and_stale_queued_messages_are_not_claimed_as_sendable():
    _reminder(user_id=43)
    Profile.objects.filter(pk=43).update(blocked_at=timezone.now())
    assert fire_due(now=at(12)) == {"blocked": 1}
    assert claim(worker="w") == []


def test_the_evening_summary_has_totals_target_left_and_weight_trend(bot):
    bot.say("/start")
    bot.say("/set kcal_target 2000")
    bot.say("/weight 72")
    bot.say("/log 100 g banana")
    _reminder(kind="summary", text="summary", next_fire_at=timezone.now() - datetime.timedelta(minutes=1))
    assert fire_due() == {"queued": 1}
    text = html.unescape(OutgoingMessage.objects.get().text)
    assert "Your day" in text and "Eaten: 89 kcal" in text
    assert "Left of your 2000 kcal target: 1911 kcal" in text
    assert "Weight: 72 kg" in text


def test_the_evening_summary_is_in_the_language_of_the_users_app(bot):
    """Fired by the worker, outside any turn: the language Telegram last reported is kept on the
    profile for it (a language chosen with /set language comes first)."""
    bot.say("/start", language_code="de-AT")
    bot.say("/set kcal_target 2000", language_code="de")
    bot.say("/weight 72.5", language_code="de")
    bot.say("/log 100 g banana", language_code="de")
    assert Profile.objects.get(pk=42).app_language == "de"
    _reminder(kind="summary", text="summary", next_fire_at=timezone.now() - datetime.timedelta(minutes=1))
    assert fire_due() == {"queued": 1}
    text = html.unescape(OutgoingMessage.objects.get().text)
    assert text.startswith("<b>Dein Tag</b> (") and "Gegessen: 89 kcal · Eiweiß" in text
    assert "Von deinem Ziel von 2000 kcal übrig: 1911 kcal" in text and "Gewicht: 72,5 kg" in text
    assert "/remind off N beendet diese Zusammenfassung" in text


def test_a_reminder_is_in_the_chosen_language_and_its_text_as_typed(bot):
    bot.say("/start", language_code="de")
    bot.say("/set language es", language_code="de")
    assert bot.say("/remind every day 21:00 drink water", language_code="de").startswith(
        "OK: todos los días a las 21:00 te recordaré: drink water.")
    Reminder.objects.update(next_fire_at=timezone.now() - datetime.timedelta(minutes=1))
    assert fire_due() == {"queued": 1}
    assert OutgoingMessage.objects.get().text == "⏰ Recordatorio: drink water"
    assert bot.say("/reminders").startswith("<b>Tus recordatorios</b>\n1. todos los días a las 21:00: drink water")


def test_reminder_replies_in_german(bot):
    bot.say("/start", language_code="de")
    assert bot.say("/remind every 2 hours between 9 and 18 stretch", language_code="de").startswith(
        "OK: alle 2 Stunden zwischen 09:00 und 18:00 erinnere ich dich an: stretch.")
    assert bot.say("/remind every 1 hour between 9 and 18 sit up", language_code="de").startswith(
        "OK: jede Stunde zwischen 09:00 und 18:00")
    assert bot.say("/quiet", language_code="de") == "Keine Ruhezeit eingestellt. /quiet 22:00-07:00 stellt sie ein."
    assert bot.say("/remind at 25:00 x", language_code="de").startswith("Die Uhrzeit")
    assert bot.say("/summary maybe", language_code="de").startswith("So geht's: /summary on")


# --- the terminal chat (make run) ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_terminal_chat_shows_a_due_reminder(monkeypatch):
    import io

    from django.core.management import call_command

    Profile.objects.create(pk=5)
    Reminder.objects.create(user_id=5, text="drink water", repeat="once", at_minute=0,
                            next_fire_at=timezone.now() - datetime.timedelta(seconds=5))
    Profile.objects.create(pk=6)
    Reminder.objects.create(user_id=6, text="not yours", repeat="once",
                            at_minute=0, next_fire_at=timezone.now() - datetime.timedelta(seconds=5))
    monkeypatch.setattr("sys.stdin", io.StringIO("/reminders\n"))
    out = io.StringIO()
    call_command("chat", "--user", "5", "--linger", "2.5", stdout=out)
    assert out.getvalue().count("bot> ⏰ Reminder: drink water") == 1
    assert "not yours" not in out.getvalue()
    assert OutgoingMessage.objects.get(user_id=5).status == "sent"
    assert OutgoingMessage.objects.get(user_id=6).status == "queued"  # user 6's, for their own chat or a worker


@pytest.mark.parametrize("args", ["in 99999999999999999999999 minutes x", "every 99999999999 hours x",
                                  "in 0 minutes x", "13:00\x00", "off", "every hours", "at", "9 am"])
def test_odd_input_is_a_reply_never_a_crash(bot, args):
    bot.say("/start")
    assert bot.say(f"/remind {args}")  # a reply (what to fix, or what was set), never a 500
    assert bot.say(f"remind me {args}")


def test_telegram_saying_the_user_blocked_or_unblocked_the_bot(bot):
    bot.say("/start")

    def membership(status: str) -> dict:
        return {"update_id": 77_000 + len(status), "my_chat_member": {
            "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": False, "first_name": "Ada"},
            "date": 1, "old_chat_member": {"status": "member"}, "new_chat_member": {"status": status}}}

    assert bot.post(membership("kicked")).json() == {}
    assert Profile.objects.get(pk=42).blocked_at is not None
    assert bot.post(membership("member")).json() == {}
    assert Profile.objects.get(pk=42).blocked_at is None
