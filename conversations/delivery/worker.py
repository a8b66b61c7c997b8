"""One delivery pass: claim due messages, send each under the fleet's rate, record what happened.

Run by the Celery task (conversations/tasks.py) in the worker service, and in-process by
`manage.py chat`. Several passes at once (worker processes, threads) share the work through the
claim; the protocol that keeps each message from being sent twice is queue.py's.

How each answer is taken:
- ok → sent;
- 429 → queued again after Telegram's retry_after, and this pass stops (its other claims are
  released for that long too): flood control is for the whole bot;
- 403 (blocked by the user, deactivated) → failed, the profile marked blocked, their other queued
  messages dropped;
- other 4xx → failed with Telegram's description (sending again would get the same answer);
- 5xx, or no connection made → queued again with exponential backoff (5 s doubling, 6 attempts);
- no answer after the request left (timeout, reset) → failed, "uncertain": it may have arrived.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from caching.api import send_slot
from memory.services import profile_mark_blocked

from ..botapi import BotAPIError
from ..models import OutgoingMessage
from . import metrics, queue
from .sender import Sender

logger = logging.getLogger(__name__)
Status = OutgoingMessage.Status
BATCH = 10
Hook = Callable[[str, OutgoingMessage], None]


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class Worker:
    def __init__(self, sender: Sender, *, name: str | None = None, per_second: int | None = None,
                 sleep: Callable[[float], None] = time.sleep, hook: Hook | None = None,
                 chat_id: int | None = None) -> None:
        self.sender, self.sleep, self.hook, self.chat_id = sender, sleep, hook, chat_id
        self.name = name or worker_name()
        self.per_second = per_second or settings.OUTGOING_PER_SECOND

    def deliver_due(self, *, max_messages: int = 1000) -> Counter[str]:
        """Send what is due (at most `max_messages`); the outcomes counted."""
        outcomes: Counter[str] = Counter()
        if swept := queue.sweep_uncertain():
            logger.warning("%s outgoing message(s) left sending by a stopped worker: failed as uncertain", swept)
            outcomes["uncertain"] += swept
            metrics.count("uncertain", swept)
        while outcomes.total() < max_messages:
            batch = queue.claim(worker=self.name, limit=BATCH, chat_id=self.chat_id)
            if not batch:
                break
            for index, message in enumerate(batch):
                outcome, pause = self._deliver(message)
                outcomes[outcome] += 1
                metrics.count(outcome)
                if pause is not None:  # flood control: the rest of the batch waits too
                    queue.release(batch[index + 1:], worker=self.name, after=pause)
                    return outcomes
        return outcomes

    def _deliver(self, message: OutgoingMessage) -> tuple[str, float | None]:
        if message.expires_at is not None and message.expires_at < timezone.now():
            queue.mark_dropped(message, worker=self.name, error="stale: its time had passed when a worker got to it")
            return "dropped", None
        if message.user.blocked_at is not None:
            queue.mark_dropped(message, worker=self.name, error="blocked: the user blocked the bot")
            return "dropped", None
        while (wait := send_slot(per_second=self.per_second)) > 0:
            self.sleep(wait)
        if self.hook:
            self.hook("claimed", message)
        if not queue.mark_sending(message, worker=self.name):
            return "lost_claim", None  # our lease ran out and another worker has it: not ours to send
        if self.hook:
            self.hook("sending", message)
        try:
            message_id = self.sender.send(message)
        except BotAPIError as error:
            return self._refused(message, error)
        queue.mark_sent(message, worker=self.name, telegram_message_id=message_id)
        return "sent", None

    def _refused(self, message: OutgoingMessage, error: BotAPIError) -> tuple[str, float | None]:
        code, what = error.code, f"{error.code or 'no answer'}: {error.description}"
        if code == 429:
            after = float(error.retry_after or 1)
            queue.retry_later(message, worker=self.name, error=what, after=after, counts=False)
            logger.warning("Telegram flood control: waiting %.0f s before sending again", after)
            return "rate_limited", after
        if code == 403:
            queue.mark_failed(message, worker=self.name, error=f"blocked: {error.description}")
            profile_mark_blocked(user_id=message.user_id, blocked=True)
            queue.drop_queued_for(user_id=message.user_id, reason="blocked: the user blocked the bot")
            return "blocked", None
        if code is not None and 400 <= code < 500:
            queue.mark_failed(message, worker=self.name, error=f"refused: {what}")
            logger.warning("outgoing message %s refused by Telegram: %s", message.pk, error.description)
            return "failed", None
        if code is None and error.maybe_sent:
            queue.mark_failed(message, worker=self.name, error=f"uncertain: {error.description}; it may have "
                                                                "arrived, so it is not sent again")
            return "uncertain", None
        status = queue.retry_later(message, worker=self.name, error=what)
        return ("retry" if status == Status.QUEUED else "failed"), None
