"""Telegram webhook: the HTTP contract (docs/ARCHITECTURE.md). The turn itself is updates.handle_update."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from healthagent.logging import log_context

from .metrics import timed_turn
from .updates import BadUpdate, UnstorableUpdate, handle_update

logger = logging.getLogger(__name__)
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"
# A real Update nests about ten levels (message → reply_to_message → entities → user). Deeper bodies
# are refused before anything walks them: Python's recursion limit is not a limit we want to meet.
MAX_JSON_DEPTH = 32


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)


def _secret_ok(request: HttpRequest) -> bool:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    if not expected:  # only possible with DJANGO_DEBUG=true (settings refuse otherwise)
        return True
    given = request.META.get(SECRET_HEADER, "")
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _depth_over(value: object, limit: int) -> bool:
    """True when `value` nests lists/objects more than `limit` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


@csrf_exempt
def telegram_webhook(request: HttpRequest) -> JsonResponse | HttpResponseNotAllowed:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _secret_ok(request):
        logger.warning("webhook call with a missing or wrong secret token")
        return _error(403, "forbidden")
    limit = settings.TELEGRAM_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad Content-Length")
    if declared > limit:
        return _error(413, f"body over {limit // 1024} KiB")
    body = request.body
    if len(body) > limit:
        return _error(413, f"body over {limit // 1024} KiB")
    try:
        update = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return _error(400, "the body is not JSON")
    except RecursionError:  # nested deeper than the parser's own recursion allows
        return _error(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    # Nesting needs an opening bracket per level: a body with few of them (every real Update) need not be walked.
    if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH and _depth_over(update, MAX_JSON_DEPTH):
        return _error(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    update_id = update.get("update_id") if isinstance(update, dict) else None
    # Every line the turn logs names its update: one grep follows a delivery and its retries.
    with log_context(update_id=update_id if type(update_id) is int else None):
        try:
            answer = timed_turn(handle_update, update)
        except UnstorableUpdate as exc:
            logger.warning("update ignored, the bot cannot store it: %s", exc)
            return JsonResponse({})
        except BadUpdate as exc:
            return _error(400, f"not a Telegram update: {exc}")
        except (OperationalError, InterfaceError):
            # Telegram retries non-2xx deliveries, and nothing was committed: the update is not lost.
            logger.exception("database unavailable while handling an update")
            return _error(503, "database unavailable, retry later")
    return JsonResponse(answer)
