"""The floor a webhook turn is measured against: a bare Django view in the same gunicorn and database
that parses the same Update JSON and does only the writes a turn cannot avoid — claim the update
(storing the reply with it: the floor knows its reply before it claims), store both messages in one
INSERT — with no bot logic and no cache. BEGIN, two statements, COMMIT.

Its claims use update ids offset by FLOOR_OFFSET, so it can replay the very updates the bot just
processed, in the same tables, after it (the users' profiles exist then, as the messages need).
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from conversations.models import Message, ProcessedUpdate

FLOOR_OFFSET = 10**12
REPLY = "ok"


@csrf_exempt
def floor_webhook(request: HttpRequest) -> JsonResponse:
    given = request.META.get("HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN", "")
    if not hmac.compare_digest(given.encode(), settings.TELEGRAM_WEBHOOK_SECRET.encode()):
        return JsonResponse({"ok": False}, status=403)
    update = json.loads(request.body)
    message = update["message"]
    user_id = message["from"]["id"]
    body = {"method": "sendMessage", "chat_id": message["chat"]["id"], "text": REPLY, "parse_mode": "HTML"}
    table = connection.ops.quote_name(ProcessedUpdate._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (update_id, user_id, response, cache_keys, processed_at) "
                "VALUES (%s, %s, %s, '[]', %s) ON CONFLICT (update_id) DO NOTHING RETURNING 1",
                [FLOOR_OFFSET + update["update_id"], user_id, json.dumps(body), timezone.now()])
            claimed = cursor.fetchone() is not None
        if claimed:
            Message.objects.bulk_create([
                Message(user_id=user_id, role=Message.Role.USER, content=message["text"],
                        telegram_message_id=message.get("message_id")),
                Message(user_id=user_id, role=Message.Role.ASSISTANT, content=REPLY),
            ])
    return JsonResponse(body)


def _serving_worker() -> object | None:
    """The gunicorn worker object whose code is serving this request: found up the call stack."""
    import sys

    from gunicorn.workers.base import Worker

    frame = sys._getframe()
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Worker):
            return candidate
        frame = frame.f_back
    return None


def worker_view(request: HttpRequest) -> JsonResponse:
    """The worker's own report of what it is (bench/servers.worker_report): its class, threads and pid."""
    import os

    worker = _serving_worker()
    if worker is None:
        return JsonResponse({"pid": os.getpid(), "worker_class": None, "threads": None, "workers": None, "timeout": None})
    cfg = worker.cfg
    return JsonResponse({"pid": os.getpid(), "worker_class": type(worker).__module__ + "." + type(worker).__name__,
                         "threads": cfg.threads, "workers": cfg.workers, "timeout": cfg.timeout})
