"""The Celery app: the worker (`celery -A healthagent worker`) and beat (`celery -A healthagent beat`).

Beat's schedule is static — two periodic passes — because what is due lives in the database (the
reminders and the outgoing queue, conversations/), not in beat: the passes are idempotent and any
number of them may run at once. docs/ARCHITECTURE.md §9 has why.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")

app = Celery("healthagent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["conversations"])


@app.on_after_finalize.connect
def _schedule(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    # expires: a pass still queued when the next one is due is dropped, so a busy worker never
    # works through a backlog of identical passes.
    sender.add_periodic_task(settings.REMINDER_TICK_SECONDS, sender.signature("conversations.fire_reminders"),
                             name="fire due reminders", expires=settings.REMINDER_TICK_SECONDS)
    sender.add_periodic_task(settings.DELIVERY_TICK_SECONDS, sender.signature("conversations.deliver_outgoing"),
                             name="deliver due messages", expires=settings.DELIVERY_TICK_SECONDS)


@worker_ready.connect
def _metrics_server(**kwargs: object) -> None:
    from django.conf import settings
    from prometheus_client import start_http_server

    if settings.WORKER_METRICS_PORT:
        start_http_server(settings.WORKER_METRICS_PORT)
