"""Talk to the bot in a terminal, through the same code path as the Telegram webhook.

In a terminal: line editing and history (readline; kept in ~/.healthagent_chat_history), Ctrl-C
or Ctrl-D ends the chat cleanly. With stdin piped, each line is one message and the transcript
shows both sides. Replies are separated by one blank line. Log lines (stderr) stay at WARNING
unless -v 2 or LOG_LEVEL asks for more.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.urls import reverse

from caching.api import trace_cache_events
from conversations import outgoing
from conversations.terminal_delivery import LocalDelivery
from conversations.replies import to_plain
from conversations.views import SECRET_HEADER, telegram_webhook

HISTORY_FILE = Path(os.environ.get("HEALTHAGENT_CHAT_HISTORY", Path.home() / ".healthagent_chat_history"))
TRACE_LEGEND = """\
[cache] after each reply, what the turn did in each cache namespace, in order:
  HIT     answered from the cache, no database query
  MISS    not cached: read from the database (or USDA), then usually…
  SET     …stored, so the next turn hits
  DELETE  dropped because this turn changed what it holds (on commit, so no one reads it stale)
  A first turn looks like user_memory: MISS, SET, DELETE, MISS, SET — nothing is cached yet, the
  cached "no profile" is replaced once your profile is created. That is expected, not a bug;
  later turns should be mostly HIT. conversation_history ends with SET every turn: the new
  messages are appended to the cached history, which keeps it warm."""


class Command(BaseCommand):
    help = "Chat with the bot in the terminal (reads stdin when it is not a terminal)."

    def add_arguments(self, parser):
        parser.add_argument("--user", type=int, default=1, help="Telegram user id to chat as (default 1)")
        parser.add_argument("--name", default=None,
                            help="your first name, as Telegram would send it (in a terminal the chat asks for it "
                                 "the first time; piped, none is sent)")
        parser.add_argument("--trace", action="store_true",
                            help="show cache hits and misses per turn (a legend explains them)")
        parser.add_argument("--files", default=None,
                            help="where charts and exports the bot sends are saved (default .run/chat in the project)")
        parser.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                            help="after the last line of piped input, keep delivering reminders this long "
                                 "(e.g. printf '/remind in 1 minute stretch\\n' | manage.py chat --linger 70)")

    def handle(self, *args, user: int, name: str | None, trace: bool, files: str | None, linger: float = 0.0,
               **options):
        # Per-turn INFO lines would interleave with the conversation: -v 2 shows them, and so does
        # LOG_LEVEL=DEBUG chosen on purpose (the cache's HIT/MISS lines).
        root = logging.getLogger()
        if options["verbosity"] >= 2:
            root.setLevel(min(root.getEffectiveLevel(), logging.INFO))
        elif settings.LOG_LEVEL != "DEBUG":
            root.setLevel(max(root.getEffectiveLevel(), logging.WARNING))
        if user <= 0:
            raise CommandError("--user must be a positive Telegram user id")
        _ensure_migrated()
        interactive = sys.stdin.isatty()
        if name is None:
            try:
                name = _ask_name(user) if interactive else ""
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("")
                return
        self.session = _Session(user=user, name=name)
        self.files_dir = Path(files) if files else Path(settings.BASE_DIR) / ".run" / "chat"
        if interactive:
            _enable_line_editing()
            self.stdout.write("Talk to the bot (/help lists commands; Ctrl-D or Ctrl-C quits).")
        if trace:
            self.stdout.write(TRACE_LEGEND)
        if interactive or trace:
            self.stdout.write("")
        # Reminders and other messages the bot starts: delivered here, to this terminal, while the
        # chat runs (conversations/terminal_delivery.py) — the embedded default has no worker service.
        # Files (charts, exports) go through the same queue and are saved in files_dir.
        self.delivery = delivery = LocalDelivery(chat_id=user, out=sys.stdout if interactive else self.stdout,
                                                 prompt="you> " if interactive else "", files_dir=self.files_dir)
        delivery.start()
        try:
            with outgoing.delivered_here():
                self._loop(interactive=interactive, trace=trace)
                if linger > 0:
                    time.sleep(linger)
        except KeyboardInterrupt:  # Ctrl-C while the bot is answering
            self.stdout.write("")
        finally:
            delivery.stop()
            if interactive:
                _save_history()

    def _loop(self, *, interactive: bool, trace: bool) -> None:
        while True:
            try:
                line = input("you> ") if interactive else sys.stdin.readline()
            except (EOFError, KeyboardInterrupt):  # Ctrl-D / Ctrl-C at the prompt
                self.stdout.write("")
                return
            if not interactive and not line:
                return
            text = line.rstrip("\n")
            if not text.strip():
                continue
            if not interactive:
                self.stdout.write(f"you> {text}")
            with self.delivery.lock:  # the background pass waits: the reply first, then its files
                status, body, events = self.session.say(text)
                if status != 200:
                    self.stderr.write(f"[webhook answered {status}: {body.get('error', '')}]")
                    continue
                self.stdout.write("bot> " + to_plain(body.get("text", "(no reply)")))
                if trace:
                    self.stdout.write(format_trace(events))
                self.stdout.write("")
                self.stdout.flush()
                self.delivery.run_once(at_prompt=False)


def _ask_name(user: int) -> str:
    """The name to chat as: the profile's, else asked once (the login name is no one's first name)."""
    from memory.models import Profile

    known = Profile.objects.filter(pk=user).values_list("name", flat=True).first()
    if known:
        return known
    return " ".join(input("What should I call you? (Enter to skip) ").split())[:64]


class _Session:
    """Posts each line to the webhook view as Telegram would, with a fresh update id."""

    def __init__(self, *, user: int, name: str) -> None:
        self.user, self.name = user, name
        self.factory = RequestFactory()
        self.headers = {SECRET_HEADER: settings.TELEGRAM_WEBHOOK_SECRET} if settings.TELEGRAM_WEBHOOK_SECRET else {}
        # Update ids must not repeat across runs, or the webhook would answer with a stored reply.
        self.update_id = time.time_ns() // 1000

    def say(self, text: str) -> tuple[int, dict, list[tuple[str, str]]]:
        self.update_id += 1
        update = {
            "update_id": self.update_id,
            "message": {
                "message_id": self.update_id % 2**31, "date": int(time.time()), "text": text,
                "chat": {"id": self.user, "type": "private"},
                "from": {"id": self.user, "is_bot": False, "first_name": self.name},
            },
        }
        request = self.factory.post(reverse("telegram-webhook"), data=json.dumps(update),
                                    content_type="application/json", **self.headers)
        with trace_cache_events() as events:
            response = telegram_webhook(request)
        return response.status_code, json.loads(response.content or b"{}"), events


def _enable_line_editing() -> None:
    """Arrow keys, editing and history at the prompt (input() uses readline once it is imported)."""
    try:
        import readline
    except ImportError:  # not built into this Python: input() still works, without editing
        return
    readline.set_history_length(1000)
    try:
        readline.read_history_file(str(HISTORY_FILE))
    except (FileNotFoundError, PermissionError, OSError):
        pass


def _save_history() -> None:
    try:
        import readline

        readline.write_history_file(str(HISTORY_FILE))
    except (ImportError, OSError):
        pass  # history is a convenience: a read-only home must not break the chat


def _ensure_migrated() -> None:
    """`manage.py chat` straight from a fresh clone: the embedded SQLite file is created and migrated
    here (as `make run` does); a real database is the operator's to migrate."""
    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    if connection.vendor != "sqlite":
        raise CommandError("the database has unapplied migrations: run `manage.py migrate` first")
    call_command("migrate", interactive=False, verbosity=0)


def format_trace(events: list[tuple[str, str]]) -> str:
    """One line per turn: each namespace's cache events in order, e.g.
    `  [cache] user_memory: HIT · conversation_history: HIT, SET`."""
    by_namespace: dict[str, list[str]] = {}
    for namespace, event in events:
        by_namespace.setdefault(namespace, []).append(event.upper())
    if not by_namespace:
        return "  [cache] no cache calls"
    return "  [cache] " + " · ".join(f"{ns}: {', '.join(evs)}" for ns, evs in by_namespace.items())
