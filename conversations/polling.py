"""Long polling: the bot without a public HTTPS URL (`manage.py runbot`).

getUpdates hands over updates in update_id order; each goes through the webhook's own turn code
(updates.handle_update, timed as the webhook's are) and its reply is sent with sendMessage. The
next offset is stored in the database after each update (PollingOffset, one row per bot), so a
restart goes on where the last run stopped, and Telegram is told with the next getUpdates.

Exactly once: an update is processed once however often it arrives — handle_update claims its
update_id in the same transaction as the turn, and one below the stored offset is skipped without
being looked at. A crash between sendMessage and storing the offset sends that one reply again on
restart (a reply twice rather than none).

Errors back off exponentially (1 s doubling to 60 s, Telegram's retry_after when it gives one) and
the loop goes on; a token Telegram refuses, or a webhook still set (getUpdates answers 409), stop it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError

from healthagent.logging import log_context

from .botapi import BotAPI, BotAPIError
from .metrics import timed_turn
from .models import PollingOffset
from .updates import BadUpdate, handle_update

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message"]
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0


class Fatal(Exception):
    """Polling cannot go on (bad token, webhook set): the message says what to do."""


class Poller:
    def __init__(self, api: BotAPI, *, poll_timeout: int = 25, sleep: Callable[[float], None] = time.sleep) -> None:
        self.api, self.poll_timeout, self.sleep = api, poll_timeout, sleep
        self.bot_id: int | None = None
        self.offset = 0
        self._backoff = BACKOFF_FIRST
        self.handled = 0

    def start(self) -> dict:
        me = self._call("getMe")
        self.bot_id = int(me["id"])
        self.offset = PollingOffset.objects.filter(bot_id=self.bot_id).values_list("offset", flat=True).first() or 0
        return me

    def run(self, *, until_idle: bool = False) -> None:
        """Poll until interrupted; with `until_idle`, until a poll brings nothing new."""
        while True:
            updates = self.poll_once()
            if updates is not None and not updates and until_idle:
                return

    def poll_once(self) -> list[dict] | None:
        """One getUpdates and its updates handled; None when the call failed (and was backed off)."""
        try:
            updates = self._call("getUpdates", offset=self.offset, timeout=self.poll_timeout,
                                 allowed_updates=ALLOWED_UPDATES, http_timeout=self.poll_timeout + 10)
        except BotAPIError as exc:
            self._back_off(exc)
            return None
        fresh = [u for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)
                 and u["update_id"] >= self.offset]
        for update in sorted(fresh, key=lambda u: u["update_id"]):
            if not self._handle(update):
                return None
        self._backoff = BACKOFF_FIRST
        return fresh

    def _handle(self, update: dict) -> bool:
        update_id = update["update_id"]
        with log_context(update_id=update_id):
            try:
                answer = timed_turn(handle_update, update)
            except BadUpdate as exc:
                logger.warning("skipping update %s: not a Telegram update (%s)", update_id, exc)
                answer = {}
            except (OperationalError, InterfaceError) as exc:
                # Nothing was committed: the same update is handled again after the pause.
                self._back_off(exc)
                return False
            if answer.get("method") == "sendMessage":
                params = {k: v for k, v in answer.items() if k != "method"}
                try:
                    self._call("sendMessage", **params)
                except BotAPIError as exc:
                    if exc.code is None or exc.code >= 500 or exc.code == 429:
                        self._back_off(exc)  # Telegram may take it later: the stored reply is sent again
                        return False
                    logger.warning("reply to update %s refused by Telegram: %s", update_id, exc.description)
            try:
                self._store_offset(update_id + 1)
            except DatabaseError as exc:
                self._back_off(exc)
                return False
        self.handled += 1
        return True

    def _store_offset(self, offset: int) -> None:
        assert self.bot_id is not None, "start() first"
        PollingOffset.objects.update_or_create(bot_id=self.bot_id, defaults={"offset": offset})
        self.offset = offset

    def _call(self, method: str, *, http_timeout: float = 10.0, **params: Any) -> Any:
        try:
            return self.api.call(method, http_timeout=http_timeout, **params)
        except BotAPIError as exc:
            if exc.code == 401 or exc.code == 404:
                raise Fatal("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN") from None
            if exc.code == 409:
                raise Fatal(f"{exc.description}: a webhook is set for this bot; remove it with "
                            "`manage.py telegram_webhook delete` to poll instead") from None
            raise

    def _back_off(self, error: Exception) -> None:
        wait = getattr(error, "retry_after", None) or self._backoff
        logger.warning("polling: %s; retrying in %.0f s", error, wait)
        self.sleep(float(wait))
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
