"""Talk to the bot in a terminal, through the same code path as the Telegram webhook."""

from __future__ import annotations

import getpass
import json
import logging
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import RequestFactory
from django.urls import reverse

from caching import stats
from conversations.replies import to_plain
from conversations.views import SECRET_HEADER, telegram_webhook


class Command(BaseCommand):
    help = "Chat with the bot in the terminal (reads stdin when it is not a terminal)."

    def add_arguments(self, parser):
        parser.add_argument("--user", type=int, default=1, help="Telegram user id to chat as (default 1)")
        parser.add_argument("--name", default=getpass.getuser().capitalize(), help="first name to chat as")
        parser.add_argument("--trace", action="store_true", help="show cache hits and misses per turn")

    def handle(self, *args, user: int, name: str, trace: bool, **options):
        if options["verbosity"] < 2:
            # Per-turn INFO lines would interleave with the conversation; -v 2 shows them.
            logging.getLogger().setLevel(logging.WARNING)
        if user <= 0:
            raise CommandError("--user must be a positive Telegram user id")
        interactive = sys.stdin.isatty()
        factory = RequestFactory()
        headers = {SECRET_HEADER: settings.TELEGRAM_WEBHOOK_SECRET} if settings.TELEGRAM_WEBHOOK_SECRET else {}
        # Update ids must not repeat across runs, or the webhook would answer with a stored reply.
        update_id = time.time_ns() // 1000
        if interactive:
            self.stdout.write("Talk to the bot (/help lists commands, Ctrl-D quits).")
        while True:
            if interactive:
                self.stdout.write("you> ", ending="")
                self.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                break
            text = line.rstrip("\n")
            if not text.strip():
                continue
            update_id += 1
            update = {
                "update_id": update_id,
                "message": {
                    "message_id": update_id % 2**31, "date": int(time.time()), "text": text,
                    "chat": {"id": user, "type": "private"},
                    "from": {"id": user, "is_bot": False, "first_name": name},
                },
            }
            request = factory.post(reverse("telegram-webhook"), data=json.dumps(update),
                                   content_type="application/json", **headers)
            with stats.capture() as events:
                response = telegram_webhook(request)
            body = json.loads(response.content or b"{}")
            if response.status_code != 200:
                self.stderr.write(f"[webhook answered {response.status_code}: {body.get('error', '')}]")
                continue
            self.stdout.write(("bot> " if interactive else "") + to_plain(body.get("text", "(no reply)")))
            if trace:
                self.stdout.write(format_trace(events))
            self.stdout.flush()


def format_trace(events: list[tuple[str, str]]) -> str:
    """One line per turn: each namespace's cache events in order, e.g.
    `  [cache] user_memory: HIT · conversation_history: HIT, SET`."""
    by_namespace: dict[str, list[str]] = {}
    for namespace, event in events:
        by_namespace.setdefault(namespace, []).append(event.upper())
    if not by_namespace:
        return "  [cache] no cache calls"
    return "  [cache] " + " · ".join(f"{ns}: {', '.join(evs)}" for ns, evs in by_namespace.items())
