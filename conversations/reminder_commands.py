"""/remind, /reminders, /summary and /quiet: reminders and the evening summary, in the user's zone.

Every reply string is one whole sentence with named fields, so gettext can wrap it as it is.
"""

from __future__ import annotations

import datetime
import re

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy

from healthagent.errors import ApplicationError
from memory import services as memory_services
from memory.selectors import quiet_hours
from nutrition.selectors import user_zone

from .models import Reminder
from .reminders import parse, services
from .reminders.schedule import Quiet, hhmm
from .replies import Reply, esc, reply
from .turn import Turn

SET_ONCE = gettext_lazy("OK: I'll remind you to {text} {when}.")
SET_DAILY = gettext_lazy("OK: every day at {time} I'll remind you to {text}.")
SET_INTERVAL = gettext_lazy("OK: {every} between {start} and {end} I'll remind you to {text}.")
SET_SUMMARY = gettext_lazy("OK: your summary of the day comes every day at {time} (/summary off stops it).")
QUIET_NOTE = gettext_lazy("Your quiet hours are {quiet}: reminders then wait (one-offs) or are skipped (repeating ones).")
NONE = gettext_lazy("No reminders. Set one: /remind 13:00 log lunch · /remind every day 21:00 summary")
STOPPED = gettext_lazy("Stopped: {what}.")
SUMMARY_OFF = gettext_lazy("The evening summary is off. /summary on 21:00 turns it on again.")
SUMMARY_WAS_OFF = gettext_lazy("The evening summary was not on. /summary on 21:00 turns it on.")
SUMMARY_USAGE = gettext_lazy("Usage: /summary on [time] (default 21:00) or /summary off")
QUIET_USAGE = gettext_lazy("Usage: /quiet 22:00-07:00 (no reminders then), /quiet off, or /quiet to see them")
QUIET_SET = gettext_lazy("Quiet hours: {quiet}. No reminders come then.")
QUIET_OFF = gettext_lazy("No quiet hours: reminders come at any time you set.")
QUIET_NONE = gettext_lazy("No quiet hours set. /quiet 22:00-07:00 sets them.")
LIST_TITLE = gettext_lazy("<b>Your reminders</b>")
LIST_FOOTER = gettext_lazy("/remind off N stops one")
SET_FOOTER = gettext_lazy("/reminders lists yours · /remind off N stops one")
DESCRIBE_DAILY = gettext_lazy("every day at {time}: {what}")
DESCRIBE_INTERVAL = gettext_lazy("{every} between {start} and {end}: {what}")
DESCRIBE_ONCE = gettext_lazy("{when}: {what}")
SUMMARY_WHAT = gettext_lazy("the summary of your day")
WHEN_TODAY = gettext_lazy("today at {time}")
WHEN_TOMORROW = gettext_lazy("tomorrow at {time}")
WHEN_ON = gettext_lazy("on {date} at {time}")
EVERY_HOUR = gettext_lazy("every hour")
EVERY_HOURS = gettext_lazy("every {n} hours")
EVERY_MINUTES = gettext_lazy("every {n} minutes")


def _when(at: datetime.datetime, zone, now: datetime.datetime) -> str:
    local, today = timezone.localtime(at, zone), timezone.localtime(now, zone).date()
    time = f"{local:%H:%M}"
    if local.date() == today:
        return WHEN_TODAY.format(time=time)
    if local.date() == today + datetime.timedelta(days=1):
        return WHEN_TOMORROW.format(time=time)
    return WHEN_ON.format(date=date_format(local, "D j M"), time=time)


def _every(minutes: int) -> str:
    if minutes % 60 == 0:
        return str(EVERY_HOUR) if minutes == 60 else EVERY_HOURS.format(n=minutes // 60)
    return EVERY_MINUTES.format(n=minutes)


def describe(reminder: Reminder, zone, now: datetime.datetime) -> str:
    what = SUMMARY_WHAT if reminder.kind == Reminder.Kind.SUMMARY else esc(reminder.text)
    if reminder.repeat == Reminder.Repeat.DAILY:
        return DESCRIBE_DAILY.format(time=hhmm(reminder.at_minute or 0), what=what)
    if reminder.repeat == Reminder.Repeat.INTERVAL:
        return DESCRIBE_INTERVAL.format(every=_every(reminder.every_minutes or 60),
                                        start=hhmm(reminder.window_start or 0), end=hhmm(reminder.window_end or 0),
                                        what=what)
    return DESCRIBE_ONCE.format(when=_when(reminder.next_fire_at or now, zone, now), what=what)


def _confirm(turn: Turn, reminder: Reminder) -> Reply:
    now = timezone.now()
    zone = user_zone(turn.tz)
    text = esc(reminder.text)
    if reminder.kind == Reminder.Kind.SUMMARY:
        line = SET_SUMMARY.format(time=hhmm(reminder.at_minute or 0))
    elif reminder.repeat == Reminder.Repeat.DAILY:
        line = SET_DAILY.format(time=hhmm(reminder.at_minute or 0), text=text)
    elif reminder.repeat == Reminder.Repeat.INTERVAL:
        line = SET_INTERVAL.format(every=_every(reminder.every_minutes or 60), start=hhmm(reminder.window_start or 0),
                                   end=hhmm(reminder.window_end or 0), text=text)
    else:
        line = SET_ONCE.format(text=text, when=_when(reminder.next_fire_at or now, zone, now))
    lines = [line]
    if (quiet := quiet_hours(user_id=turn.user_id)) is not None:
        lines.append(QUIET_NOTE.format(quiet=f"{hhmm(quiet[0])}–{hhmm(quiet[1])}"))
    lines.append(str(SET_FOOTER))
    return reply(*lines)


def cmd_remind(turn: Turn, args: str) -> Reply:
    spec = parse.parse_command(args, now=timezone.now())
    if isinstance(spec, parse.Off):
        stopped = services.reminder_stop(user_id=turn.user_id, which=spec.which)
        zone, now = user_zone(turn.tz), timezone.now()
        return reply(*(STOPPED.format(what=describe(r, zone, now)) for r in stopped)) if stopped else reply(NONE)
    return _confirm(turn, services.reminder_create(user_id=turn.user_id, spec=spec))


def remind_from_text(turn: Turn, text: str) -> Reply:
    """"remind me to drink water every 2 hours between 9 and 18" (free text)."""
    spec = parse.parse_text(text, now=timezone.now())
    return _confirm(turn, services.reminder_create(user_id=turn.user_id, spec=spec))


def cmd_reminders(turn: Turn, args: str) -> Reply:
    active = services.reminders_active(user_id=turn.user_id)
    if not active:
        return reply(NONE)
    zone, now = user_zone(turn.tz), timezone.now()
    return reply(LIST_TITLE, *(f"{n}. {describe(r, zone, now)}" for n, r in enumerate(active, 1)), LIST_FOOTER)


def cmd_summary(turn: Turn, args: str) -> Reply:
    word, _, rest = args.strip().lower().partition(" ")
    if word == "off":
        stopped = services.summary_stop(user_id=turn.user_id)
        return reply(SUMMARY_OFF if stopped else SUMMARY_WAS_OFF)
    if word != "on":
        raise ApplicationError(SUMMARY_USAGE)
    spec = parse.parse_command(f"every day {rest.strip() or '21:00'} summary", now=timezone.now())
    assert isinstance(spec, parse.Spec)
    return _confirm(turn, services.reminder_create(user_id=turn.user_id, spec=spec))


_QUIET = re.compile(rf"^{parse._TIME}\s*(?:-|–|to)\s*{parse._TIME}$", re.I)


def cmd_quiet(turn: Turn, args: str) -> Reply:
    raw = " ".join(args.split()).lower()
    if raw in ("off", "none"):
        memory_services.quiet_hours_set(user_id=turn.user_id, start=None, end=None)
        return reply(QUIET_OFF)
    if not raw:
        if (quiet_now := quiet_hours(user_id=turn.user_id)) is None:
            return reply(QUIET_NONE)
        return reply(QUIET_SET.format(quiet=f"{hhmm(quiet_now[0])}–{hhmm(quiet_now[1])}"))
    m = _QUIET.match(raw)
    if not m:
        raise ApplicationError(QUIET_USAGE)
    start = parse.minute_of(m.group(1), m.group(2), m.group(3), raw=raw)
    end = parse.minute_of(m.group(4), m.group(5), m.group(6), raw=raw)
    if start == end:
        raise ApplicationError(QUIET_USAGE)
    memory_services.quiet_hours_set(user_id=turn.user_id, start=start, end=end)
    quiet = Quiet(start, end)
    return reply(QUIET_SET.format(quiet=f"{hhmm(quiet.start)}–{hhmm(quiet.end)}"))


REMINDER_COMMANDS = {"remind": cmd_remind, "reminders": cmd_reminders, "summary": cmd_summary, "quiet": cmd_quiet}
