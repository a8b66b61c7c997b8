"""/healthz: what a load balancer and the compose health check poll."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django_redis import get_redis_connection
from redis.exceptions import RedisError


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except DatabaseError:
        database = "error"
    if not settings.ENABLE_CACHE:
        cache_state = "disabled"
    else:
        try:
            get_redis_connection("default").ping()
            cache_state = "ok"
        except (RedisError, OSError):  # a cache we cannot reach is degraded, never an outage
            cache_state = "degraded"
    return JsonResponse({"database": database, "cache": cache_state}, status=200 if database == "ok" else 503)
