"""manage.py prune --older-than 30d: delete old processed updates and conversation messages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from conversations.services import conversation_prune

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Telegram redelivers an unanswered update for about a day: a younger processed update still keeps
# a redelivery from running twice.
MINIMUM = timedelta(days=1)


def parse_age(text: str) -> timedelta:
    found = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text.lower())
    if not found:
        raise CommandError(f"--older-than must be a number and a unit (m, h, d, w), e.g. 30d, not {text!r}")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


class Command(BaseCommand):
    help = (
        "Delete processed Telegram updates and conversation messages older than --older-than "
        "(e.g. 30d, 12h, 2w; at least 1d). Cached histories of the users touched are dropped."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than", required=True, help="age: a number and m, h, d or w (30d)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args: Any, older_than: str, dry_run: bool, **options: Any) -> None:
        age = parse_age(older_than)
        if age < MINIMUM:
            raise CommandError("--older-than must be at least 1d: Telegram may still redeliver younger updates")
        before = timezone.now() - age
        counts = conversation_prune(before=before, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {counts['processed_updates']} processed update(s) and "
                          f"{counts['messages']} message(s) older than {before:%Y-%m-%d %H:%M %Z}, "
                          f"and {counts['outgoing']} finished outgoing message(s).")
