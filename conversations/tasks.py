"""The Celery tasks beat schedules (healthagent/celery.py): thin wrappers around the passes."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

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
    _heartbeat()
    return dict(counts)


@shared_task(name="conversations.deliver_outgoing")
def deliver_outgoing() -> dict[str, int]:
    outcomes = Worker(BotAPISender()).deliver_due()
    if outcomes:
        logger.info("delivery pass: %s", dict(outcomes))
    _heartbeat()
    return dict(outcomes)


def _heartbeat() -> None:
    """A pass finished: beat, the broker, this worker and the database all work (the health check)."""
    if settings.WORKER_HEARTBEAT_FILE:
        Path(settings.WORKER_HEARTBEAT_FILE).touch()
