"""The Celery tasks beat schedules (healthagent/celery.py): thin wrappers around the passes."""

from __future__ import annotations

import logging

from celery import shared_task

from .delivery.sender import BotAPISender
from .delivery.worker import Worker
from .reminders.services import fire_due

logger = logging.getLogger(__name__)


@shared_task(name="conversations.fire_reminders")
def fire_reminders() -> dict[str, int]:
    """Queue the messages of due reminders, then deliver at once what that queued."""
    counts = fire_due()
    if counts.get("queued"):
        deliver_outgoing()
    return dict(counts)


@shared_task(name="conversations.deliver_outgoing")
def deliver_outgoing() -> dict[str, int]:
    outcomes = Worker(BotAPISender()).deliver_due()
    if outcomes:
        logger.info("delivery pass: %s", dict(outcomes))
    return dict(outcomes)
