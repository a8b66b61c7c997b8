"""manage.py runbot: the bot over long polling (getUpdates), for a bot without a public HTTPS URL."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from conversations.botapi import BotAPI, BotAPIError
from conversations.polling import Fatal, Poller


class Command(BaseCommand):
    help = (
        "Answer the bot's messages by long polling Telegram (getUpdates, then sendMessage), through the "
        "same turn code as the webhook. Needs TELEGRAM_BOT_TOKEN and no webhook set. Each update is "
        "processed once; the offset is kept in the database across restarts; errors back off."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--poll-timeout", type=int, default=25, help="seconds each getUpdates waits (default 25)")
        parser.add_argument("--until-idle", action="store_true", help="stop once a poll brings no update")

    def handle(self, *args: Any, poll_timeout: int, until_idle: bool, **options: Any) -> None:
        try:
            poller = Poller(BotAPI(), poll_timeout=poll_timeout)
            me = poller.start()
        except (BotAPIError, Fatal) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Polling as @{me.get('username', me['id'])} from offset {poller.offset} (Ctrl-C stops).")
        try:
            poller.run(until_idle=until_idle)
        except Fatal as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"Stopped after {poller.handled} update(s); next offset {poller.offset}.")
