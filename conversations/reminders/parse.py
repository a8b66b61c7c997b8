"""What the user asked for: `/remind …` arguments and "remind me to … every 2 hours between 9 and 18"
read into a Spec, or an ApplicationError saying what to fix.

The command takes the time first: `/remind 13:00 log lunch`, `/remind at 9am stretch`,
`/remind in 20 minutes take the pizza out`, `/remind every day 21:00 summary`,
`/remind every 2 hours between 9 and 18 drink water`. Free text takes it anywhere after "remind me";
there a bare number is a time only with "at", a colon or am/pm ("remind me to eat 2 eggs at 8").
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy

from healthagent.errors import ApplicationError

from .schedule import Schedule

TEXT_CHARS = 200
MIN_EVERY, MAX_EVERY = 15, 12 * 60  # minutes
MAX_IN = datetime.timedelta(days=7)

# Messages kept whole so gettext can wrap them (the i18n helper will).
USAGE = gettext_lazy("Tell me when and what, e.g. /remind 13:00 log lunch · /remind in 20 minutes stretch · "
         "/remind every day 21:00 summary · /remind every 2 hours between 9 and 18 drink water. "
         "/reminders lists yours, /remind off N stops one.")
BAD_TIME = gettext_lazy("I couldn't read the time “{time}”: use 24-hour 13:00, or 1pm / 1:30pm.")
NO_TEXT = gettext_lazy("What should I remind you of? e.g. /remind {when} drink water")
TOO_LONG = gettext_lazy("A reminder's text can be at most {limit} characters.")
BAD_EVERY = gettext_lazy("Every how often? From 15 minutes to 12 hours, e.g. every 2 hours or every 30 minutes.")
BAD_WINDOW = gettext_lazy("The window runs from the first hour to a later one, e.g. between 9 and 18.")
BAD_IN = gettext_lazy("“in …” takes 1 minute to 7 days, e.g. in 20 minutes or in 2 hours.")

_TIME = r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"
_UNIT = r"(minutes?|mins?|m|hours?|hrs?|h|days?|d)"


@dataclass(frozen=True)
class Spec:
    schedule: Schedule
    text: str
    kind: str = "text"  # "summary": the evening summary instead of a text
    fire_at: datetime.datetime | None = None  # a one-off "in 20 minutes": exactly then (UTC)


@dataclass(frozen=True)
class Off:
    which: str  # a number from /reminders, or "all"


def minute_of(hour: str, minute: str | None, meridiem: str | None, *, raw: str) -> int:
    h, m = int(hour), int(minute or 0)
    if meridiem:
        if not 1 <= h <= 12:
            raise ApplicationError(BAD_TIME.format(time=raw))
        h = h % 12 + (12 if meridiem.startswith("p") else 0)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ApplicationError(BAD_TIME.format(time=raw))
    return h * 60 + m


def _time(match: re.Match, first: int) -> int:
    return minute_of(match.group(first), match.group(first + 1), match.group(first + 2), raw=match.group(0).strip())


def _minutes(amount: str | None, unit: str) -> int:
    n = int(amount) if amount else 1
    return n * {"m": 1, "h": 60, "d": 24 * 60}[unit[0]]


def _text(text: str, when: str) -> tuple[str, str]:
    text = re.sub(r"^(?:to|that|about)\s+", "", " ".join(text.split()), flags=re.I).strip(" .,;:!")
    if not text:
        raise ApplicationError(NO_TEXT.format(when=when))
    if len(text) > TEXT_CHARS:
        raise ApplicationError(TOO_LONG.format(limit=TEXT_CHARS))
    return text, "summary" if text.lower() in ("summary", "the summary", "daily summary", "evening summary") else "text"


def _interval(every: int, start: int, end: int) -> Schedule:
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise ApplicationError(BAD_EVERY)
    if start >= end:
        raise ApplicationError(BAD_WINDOW)
    return Schedule("interval", every_minutes=every, window_start=start, window_end=end)


_CMD_OFF = re.compile(r"^(?:off|stop|delete)\s+(\S+)$", re.I)
_CMD_DAILY = re.compile(rf"^(?:every\s*day|daily)\s+(?:at\s+)?{_TIME}(?:\s+(.*))?$", re.I)
_CMD_EVERY = re.compile(rf"^every\s+(\d{{1,4}}\s*)?{_UNIT}(?:\s+(?:between|from)\s+{_TIME}\s+(?:and|to|-)\s+{_TIME})?"
                        r"(?:\s+(.*))?$", re.I)
_CMD_IN = re.compile(rf"^in\s+(\d{{1,6}})\s*{_UNIT}(?:\s+(.*))?$", re.I)
_CMD_AT = re.compile(rf"^(?:at\s+)?{_TIME}(?:\s+(.*))?$", re.I)
DEFAULT_WINDOW = (9 * 60, 21 * 60)


def parse_command(args: str, *, now: datetime.datetime) -> Spec | Off:
    args = " ".join(args.split())
    if not args:
        raise ApplicationError(USAGE)
    if m := _CMD_OFF.match(args):
        return Off(m.group(1).lower())
    if m := _CMD_DAILY.match(args):
        minute = _time(m, 1)
        text, kind = _text(m.group(4) or "", "every day 21:00")
        return Spec(Schedule("daily", at_minute=minute), text, kind)
    if m := _CMD_EVERY.match(args):
        every = _minutes(m.group(1), m.group(2).lower())
        if m.group(3) is not None:
            start, end = _time(m, 3), _time(m, 6)
        else:
            start, end = DEFAULT_WINDOW
        text, kind = _text(m.group(9) or "", "every 2 hours between 9 and 18")
        if kind == "summary":
            kind = "text"
        return Spec(_interval(every, start, end), text, kind)
    if m := _CMD_IN.match(args):
        return _in(m.group(1), m.group(2), m.group(3) or "", now=now)
    if m := _CMD_AT.match(args):
        minute = _time(m, 1)
        text, kind = _text(m.group(4) or "", "13:00")
        return Spec(Schedule("once", at_minute=minute), text, kind)
    raise ApplicationError(USAGE)


def _in(amount: str, unit: str, rest: str, *, now: datetime.datetime) -> Spec:
    delta = datetime.timedelta(minutes=_minutes(amount, unit.lower()))
    if not datetime.timedelta(minutes=1) <= delta <= MAX_IN:
        raise ApplicationError(BAD_IN)
    text, kind = _text(rest, "in 20 minutes")
    return Spec(Schedule("once"), text, kind, fire_at=now + delta)


# Free text: "remind me to drink water every 2 hours between 9 and 18", "remind me at 8pm to call mum".
REMIND_ME = re.compile(r"^(?:please\s+|can you\s+|could you\s+)?remind\s+me\b\s*", re.I)
_FT_TIME = rf"(?:at\s+{_TIME}|(\d{{1,2}})[:.h](\d{{2}})\s*(am|pm)?|(\d{{1,2}})\s*(am|pm))"
_FT_EVERY = re.compile(rf"\bevery\s+(\d{{1,4}}\s*)?{_UNIT}(?:\s+(?:between|from)\s+(?:{_TIME})\s+(?:and|to|-)\s+{_TIME})?",
                       re.I)
_FT_DAILY = re.compile(rf"\b(?:every\s*day|daily|each\s+day)\s*(?:at\s+)?{_TIME}|{_FT_TIME}\s+(?:every\s*day|daily)",
                       re.I)
_FT_IN = re.compile(rf"\bin\s+(\d{{1,6}}|an?)\s*{_UNIT}\b", re.I)
_FT_AT = re.compile(rf"\b{_FT_TIME}", re.I)


def parse_text(text: str, *, now: datetime.datetime) -> Spec:
    rest = REMIND_ME.sub("", " ".join(text.split()), count=1)
    if m := _FT_DAILY.search(rest):
        minute = _time(m, 1) if m.group(1) is not None else _ft_time(m, 4)
        body, kind = _text(_cut(rest, m), "every day 21:00")
        return Spec(Schedule("daily", at_minute=minute), body, kind)
    if m := _FT_EVERY.search(rest):
        every = _minutes(m.group(1), m.group(2).lower())
        start, end = (_time(m, 3), _time(m, 6)) if m.group(3) is not None else DEFAULT_WINDOW
        body, _ = _text(_cut(rest, m), "every 2 hours between 9 and 18")
        return Spec(_interval(every, start, end), body)
    if m := _FT_IN.search(rest):
        amount = m.group(1) if m.group(1).isdigit() else "1"
        return _in(amount, m.group(2), _cut(rest, m), now=now)
    if m := _FT_AT.search(rest):
        minute = _ft_time(m, 1)
        body, kind = _text(_cut(rest, m), "13:00")
        return Spec(Schedule("once", at_minute=minute), body, kind)
    raise ApplicationError(USAGE)


def _ft_time(m: re.Match, first: int) -> int:
    """A time matched by _FT_TIME's alternatives (groups from `first`): "at 8", "8:30", "8pm"."""
    groups = m.groups()[first - 1:first + 7]
    raw = m.group(0).strip()
    if groups[0] is not None:
        return minute_of(groups[0], groups[1], groups[2], raw=raw)
    if groups[3] is not None:
        return minute_of(groups[3], groups[4], groups[5], raw=raw)
    return minute_of(groups[6], None, groups[7], raw=raw)


def _cut(text: str, m: re.Match) -> str:
    return (text[:m.start()] + " " + text[m.end():]).strip()
