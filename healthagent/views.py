"""/healthz: what a load balancer and the compose health check poll.

{"database": "ok"|"error", "cache": "ok"|"degraded"|"disabled", "breaker": "closed"|"open"|"half-open"}
200 while the database answers, 503 when it does not: the bot cannot work without its database, but a
cache that is down only costs speed (ARCHITECTURE.md §5.4), so "degraded" is reported and stays healthy.

Cheap enough to poll every few seconds: at most one round trip to each server (`SELECT 1`, `PING`).
The PING goes through the circuit breaker: while it is open nothing touches the network and the
answer is "degraded"; once its cool-down has passed, this call may be the probe that closes it.
"""

from __future__ import annotations

import logging

from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from caching.api import breaker_state

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    database = _database()
    body = {"database": database, "cache": _cache(), "breaker": breaker_state()}
    return JsonResponse(body, status=200 if database == "ok" else 503)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("healthz: the database did not answer (%s: %s)", type(error).__name__, error)
        return "error"
    return "ok"


def _cache() -> str:
    cache = caches["default"]
    if not getattr(cache, "enabled", False):
        return "disabled"
    answered, _detail = cache.ping()  # False without a round trip while the breaker is open
    return "ok" if answered else "degraded"


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask every site for /favicon.ico; a 404 would log a WARNING per page view. No icon,
    no error: 204, cached for a day so the browser stops asking."""
    response = HttpResponse(status=204)
    response["Cache-Control"] = "public, max-age=86400"
    return response
