"""Reminders: set, list, stop, and fire the due ones into the outgoing queue.

Firing is exactly once per occurrence: the scheduler's pass locks due reminders (FOR UPDATE SKIP
LOCKED), queues each one's message and moves its next_fire_at on in the same transaction, and the
message's dedupe key ("reminder:<id>:<occurrence>") refuses a second copy whatever runs twice.

Missed while the service was down: an occurrence found late is sent once if it is still relevant —
within STALE_AFTER (an hour; for an interval reminder, half its interval if that is shorter) — and
dropped if not; either way the reminder goes on from its next occurrence after now, so a long
outage brings one message, never a burst of old ones.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter

from django.db import transaction
from django.utils import timezone
from django.utils import translation
from django.utils.translation import gettext_lazy

from healthagent.errors import ApplicationError
from memory.models import Profile
from nutrition.selectors import user_zone

from ..delivery.queue import message_enqueue
from ..language import of_profile as language_of
from ..models import Reminder
from ..replies import esc
from .parse import Spec
from .schedule import Quiet, Schedule, hhmm, next_occurrence
from .summary import summary_text

logger = logging.getLogger(__name__)
STALE_AFTER = datetime.timedelta(hours=1)
MAX_ACTIVE = 20
TOO_MANY = gettext_lazy("You have {limit} reminders already: stop one first (/reminders lists them, /remind off N stops one).")
NEVER = gettext_lazy("Every time of that reminder falls in your quiet hours ({quiet}), so it would never come: change one of them.")
NOTHING_TO_STOP = gettext_lazy("You have no reminders to stop. Set one with /remind 13:00 log lunch")
WHICH = gettext_lazy("Give the number of a reminder from /reminders (1 to {count}), e.g. /remind off 1 — or /remind off all")
REMINDER = gettext_lazy("⏰ Reminder: {text}")


def schedule_of(reminder: Reminder) -> Schedule:
    return Schedule(reminder.repeat, at_minute=reminder.at_minute, every_minutes=reminder.every_minutes,
                    window_start=reminder.window_start, window_end=reminder.window_end)


def quiet_of(profile: Profile) -> Quiet | None:
    if profile.quiet_start is None or profile.quiet_end is None:
        return None
    return Quiet(profile.quiet_start, profile.quiet_end)


def reminder_create(*, user_id: int, spec: Spec, now: datetime.datetime | None = None) -> Reminder:
    now = now or timezone.now()
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=user_id)
        if Reminder.objects.filter(user_id=user_id, active=True).count() >= MAX_ACTIVE:
            raise ApplicationError(TOO_MANY.format(limit=MAX_ACTIVE))
        zone, quiet = user_zone(profile.tz), quiet_of(profile)
        schedule = spec.schedule
        if spec.fire_at is not None:
            local = timezone.localtime(spec.fire_at, zone)
            schedule = Schedule("once", at_minute=local.hour * 60 + local.minute)
            first: datetime.datetime | None = spec.fire_at
            if quiet is not None and quiet.covers(schedule.at_minute or 0):
                first = next_occurrence(Schedule("once", at_minute=quiet.end), after=spec.fire_at, zone=zone)
        else:
            first = next_occurrence(schedule, after=now, zone=zone, quiet=quiet)
        if first is None:
            raise ApplicationError(NEVER.format(quiet=_quiet_text(quiet)))
        if spec.kind == Reminder.Kind.SUMMARY:  # one evening summary: a new time replaces the old
            Reminder.objects.filter(user_id=user_id, kind=Reminder.Kind.SUMMARY, active=True).update(
                active=False, next_fire_at=None)
        return Reminder.objects.create(user_id=user_id, kind=spec.kind, text=spec.text, repeat=schedule.repeat,
                                       at_minute=schedule.at_minute, every_minutes=schedule.every_minutes,
                                       window_start=schedule.window_start, window_end=schedule.window_end,
                                       next_fire_at=first, created_at=now)


def _quiet_text(quiet: Quiet | None) -> str:
    return f"{hhmm(quiet.start)}–{hhmm(quiet.end)}" if quiet else "none"


def reminders_active(*, user_id: int) -> list[Reminder]:
    """The user's active reminders, numbered 1.. in this order by /reminders and /remind off N."""
    return list(Reminder.objects.filter(user_id=user_id, active=True).order_by("created_at", "id"))


def reminder_stop(*, user_id: int, which: str) -> list[Reminder]:
    """Stop reminder N of /reminders, or "all"; the ones stopped. ApplicationError for a bad N."""
    active = reminders_active(user_id=user_id)
    if which == "all":
        chosen = active
    elif which.isascii() and which.isdigit() and 1 <= int(which) <= len(active):
        chosen = [active[int(which) - 1]]
    elif not active:
        raise ApplicationError(NOTHING_TO_STOP)
    else:
        raise ApplicationError(WHICH.format(count=len(active)))
    Reminder.objects.filter(pk__in=[r.pk for r in chosen]).update(active=False, next_fire_at=None)
    return chosen


def summary_stop(*, user_id: int) -> int:
    return Reminder.objects.filter(user_id=user_id, kind=Reminder.Kind.SUMMARY, active=True).update(
        active=False, next_fire_at=None)


def stale_after(reminder: Reminder) -> datetime.timedelta:
    if reminder.repeat == Reminder.Repeat.INTERVAL and reminder.every_minutes:
        return min(STALE_AFTER, datetime.timedelta(minutes=reminder.every_minutes / 2))
    return STALE_AFTER


def reminder_text(reminder: Reminder) -> str:
    return REMINDER.format(text=esc(reminder.text))


def fire_due(*, now: datetime.datetime | None = None, batch: int = 100) -> Counter[str]:
    """Queue the message of every reminder whose time has come; move each on. Counts: queued,
    stale (missed while down and no longer relevant: dropped), blocked (user blocked the bot)."""
    now = now or timezone.now()
    counts: Counter[str] = Counter()
    while True:
        with transaction.atomic():
            due = list(Reminder.objects.filter(active=True, next_fire_at__lte=now).order_by("next_fire_at", "id")
                       .select_for_update(skip_locked=True, of=("self",)).select_related("user")[:batch])
            for reminder in due:
                counts[_fire(reminder, now=now)] += 1
        if len(due) < batch:
            return counts


def _fire(reminder: Reminder, *, now: datetime.datetime) -> str:
    occurrence = reminder.next_fire_at
    assert occurrence is not None
    profile = reminder.user
    late = now - occurrence
    if profile.blocked_at is not None:
        outcome = "blocked"
    elif late > stale_after(reminder):
        outcome = "stale"
        logger.info("reminder %s missed by %s: dropped as stale", reminder.pk, late)
    else:
        summary = reminder.kind == Reminder.Kind.SUMMARY
        with translation.override(language_of(profile)):  # outside a turn: the user's language, not the worker's
            text = summary_text(profile=profile, now=now) if summary else reminder_text(reminder)
        queued = message_enqueue(user_id=profile.pk, chat_id=profile.pk, text=text,
                                 origin="summary" if summary else "reminder",
                                 dedupe_key=f"reminder:{reminder.pk}:{occurrence:%Y%m%dT%H%M%SZ}", due_at=now,
                                 expires_at=occurrence + stale_after(reminder))
        outcome = "queued" if queued else "duplicate"
    if reminder.repeat == Reminder.Repeat.ONCE:
        reminder.active, reminder.next_fire_at = False, None
    else:
        reminder.next_fire_at = next_occurrence(schedule_of(reminder), after=now, zone=user_zone(profile.tz),
                                                quiet=quiet_of(profile))
        reminder.active = reminder.next_fire_at is not None
    reminder.save(update_fields=["active", "next_fire_at"])
    return outcome
