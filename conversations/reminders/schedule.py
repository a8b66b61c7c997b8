"""When a reminder comes: pure functions of its schedule, the user's zone and quiet hours.

Times are local (minutes after midnight in the user's zone) and stored so; occurrences are computed
in that zone and returned in UTC, so a reminder at 21:00 stays at 21:00 across a DST change.

Quiet hours: an occurrence of a repeating reminder inside them is skipped (the next one comes); a
one-off inside them is moved to the end of the quiet hours.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAY = 24 * 60


@dataclass(frozen=True)
class Schedule:
    repeat: str  # "once", "daily", "interval" (Reminder.Repeat)
    at_minute: int | None = None
    every_minutes: int | None = None
    window_start: int | None = None
    window_end: int | None = None


@dataclass(frozen=True)
class Quiet:
    start: int
    end: int

    def covers(self, minute: int) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # across midnight: 22:00-07:00


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _local(day: datetime.date, minute: int, zone: ZoneInfo) -> datetime.datetime:
    local = datetime.datetime.combine(day, datetime.time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(datetime.timezone.utc)


def _minutes_of_day(schedule: Schedule) -> list[int]:
    if schedule.repeat == "interval":
        assert schedule.every_minutes and schedule.window_start is not None and schedule.window_end is not None
        return list(range(schedule.window_start, schedule.window_end + 1, schedule.every_minutes))
    assert schedule.at_minute is not None
    return [schedule.at_minute]


def next_occurrence(schedule: Schedule, *, after: datetime.datetime, zone: ZoneInfo,
                    quiet: Quiet | None = None) -> datetime.datetime | None:
    """The first occurrence strictly after `after` (UTC), quiet hours applied; None if there is none
    within a week (every occurrence falls in quiet hours)."""
    today = after.astimezone(zone).date()
    minutes = _minutes_of_day(schedule)
    for offset in range(8):
        day = today + datetime.timedelta(days=offset)
        for minute in minutes:
            at = _local(day, minute, zone)
            if at <= after:
                continue
            if quiet is not None and quiet.covers(minute):
                if schedule.repeat != "once":
                    continue
                return next_occurrence(Schedule("once", at_minute=quiet.end), after=at, zone=zone)
            return at
    return None
