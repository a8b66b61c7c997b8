"""Invalidations that could not reach Redis, kept in the database and replayed on recovery.

While Redis is down (breaker open, timeouts) writes still commit; their invalidations are recorded
here. When the breaker probes Redis again, the backend replays them with the probe's own connection
*before* the probe's answer is used, so no entry written before the outage is served after it.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.db import DatabaseError
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)
_BATCH = 500


def remember(key: str) -> None:
    from .models import PendingInvalidation

    try:
        PendingInvalidation.objects.get_or_create(key=key)
    except DatabaseError:
        # Both stores are failing at once: nothing left to write to. Say so loudly.
        logger.error("could not record the pending cache invalidation of %s", key, exc_info=True)
    else:
        logger.info("Redis unavailable: invalidation of %s recorded for replay", key)


def replay_before_probe(client: Any, cache: Any) -> None:
    """guard.PROBE_HOOKS entry: replay with the probe's connection, before its answer is used."""
    from .readthrough import INVALIDATED_TOKEN_TTL_MS

    try:
        replay(client, cache.make_and_validate_key, INVALIDATED_TOKEN_TTL_MS)
    except DatabaseError:
        # Without the outbox we cannot know what is stale: keep Redis untrusted (the probe fails).
        logger.warning("cannot read pending cache invalidations; Redis stays bypassed", exc_info=True)
        raise RedisConnectionError("pending invalidations unreadable") from None


def replay(client: Any, make_key: Any, token_ttl_ms: int) -> int:
    """Invalidate every recorded key through `client` (a raw redis-py client); return how many.

    Redis errors propagate: the caller (the breaker's probe) then treats Redis as still down.
    """
    from .models import PendingInvalidation
    from .readthrough import token_key
    from .scripts import INVALIDATE

    replayed = 0
    while True:
        rows = list(PendingInvalidation.objects.order_by("id").values_list("id", "key")[:_BATCH])
        if not rows:
            return replayed
        # One round trip per batch: a replay runs inside the probing request. EVAL, not EVALSHA:
        # a Redis that restarted empty has no scripts loaded, and a pipeline cannot retry NOSCRIPT.
        pipe = client.pipeline(transaction=False)
        for _, key in rows:
            pipe.eval(INVALIDATE.source, 2, make_key(key), make_key(token_key(key)), secrets.token_hex(8),
                      token_ttl_ms)
        pipe.execute()
        PendingInvalidation.objects.filter(id__in=[row_id for row_id, _ in rows]).delete()
        replayed += len(rows)
        logger.warning("replayed %d cache invalidation(s) recorded while Redis was unavailable", len(rows))
