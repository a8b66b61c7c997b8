"""Invalidations Redis may not have applied, kept in the database until some process applies them.

A row names a key whose cached value may be stale in Redis. Rows come from two places:

- an invalidation (or history append) that Redis did not take after the commit — a timeout, a
  refused connection, or an error reply such as OOM: `add_untaken()`, before the write is acknowledged;
- an *intent*, written inside a transaction that is not a bot turn (the admin, a shell), so that a
  process killed between COMMIT and the Redis call leaves the row behind; deleted once Redis took
  the invalidation. (A bot turn records its keys on its ProcessedUpdate row instead: Telegram
  redelivers an update it got no answer for, and the redelivery applies them again.)

A row Redis took is not deleted: it is marked applied and kept for the replay window
(`replay_window()`, REDIS_REPLAY_WINDOW), so a Redis that later loses what it took gets it again
(caching/consistency/replay.py); rows applied longer ago are pruned by whoever marks rows applied.

Every process learns that rows exist through the database before it reads from Redis
(caching/consistency/fence.py: the check is folded into the statement that claims a turn's update), and applies
them itself — so no process serves an entry that another process's acknowledged write made stale,
whichever process saw Redis fail, and with no cool-down to wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from caching.backend.scripts import INVALIDATE
from caching.consistency.backend import ConsistencyBackend
from caching.consistency.tokens import INVALIDATED_TOKEN_TTL_MS, new_token, token_key
from caching.servers.replication import run_scripts, wait_policy

logger = logging.getLogger(__name__)
BATCH = 500  # keys applied per round trip; a turn drains at most this many before trusting Redis


def _model() -> Any:
    # Imported when first used: this module is imported while the app registry is still loading
    # (memory/selectors.py at import time), before models may be.
    from caching.models import PendingInvalidation

    return PendingInvalidation


def replay_window() -> int:
    """Seconds applied rows (and turns' keys) are kept for a replay: CACHES OPTIONS REPLAY_WINDOW
    (settings: REDIS_REPLAY_WINDOW); 0 when the replay is off."""
    from django.conf import settings

    options: Any = settings.CACHES.get("default", {}).get("OPTIONS", {})
    return int(options.get("REPLAY_WINDOW", 600))


def pending_sql() -> str:
    """An SQL expression, true while any invalidation is pending: folded into a statement a turn
    sends anyway, so learning that Redis cannot be trusted costs no round trip. (A partial index
    holds the pending rows only: the applied ones kept for the replay do not slow it.)"""
    quote = connection.ops.quote_name
    return f"EXISTS (SELECT 1 FROM {quote(_model()._meta.db_table)} WHERE {quote('applied_at')} IS NULL)"


def pending_exists() -> bool:
    return _model().objects.filter(applied_at__isnull=True).exists()


def add(keys: Iterable[str]) -> None:
    """Add rows for `keys` (one INSERT; a key kept applied is pending again, one already pending stays
    as it is). Raises DatabaseError: a write whose invalidation can be recorded nowhere must not be
    acknowledged."""
    model = _model()
    model.objects.bulk_create([model(key=key) for key in keys], update_conflicts=True, unique_fields=["key"],
                              update_fields=["applied_at", "created_at"])


def add_untaken(key: str) -> None:
    """Redis did not take the invalidation of `key` after the commit: keep it for whoever reads next."""
    try:
        add([key])
    except DatabaseError:
        # Both stores are failing: the caller's request fails too (a turn answers 503 and Telegram
        # redelivers it; the redelivery applies the turn's invalidations again).
        logger.error("could not record the pending cache invalidation of %s", key)
        raise
    logger.info("Redis did not take the invalidation of %s: recorded for the next reader to apply", key)


def clear_applied(keys: Iterable[str]) -> None:
    """Mark the intents of keys Redis has now taken as applied (kept for the replay window), and prune
    rows applied before it. Best effort: a row left pending costs one more invalidation later, never a
    stale read."""
    keys = list(keys)
    try:
        now = timezone.now()
        _model().objects.filter(key__in=keys, applied_at__isnull=True).update(applied_at=now)
        prune(now=now)
    except DatabaseError:
        logger.warning("could not clear %d applied cache intent(s); they will be applied again", len(keys))


def prune(*, now: datetime | None = None) -> int:
    """Delete rows applied longer ago than the replay window; how many went."""
    before = (now or timezone.now()) - timedelta(seconds=replay_window())
    deleted, _ = _model().objects.filter(applied_at__lt=before).delete()
    return deleted


def recent_keys(since: datetime) -> set[str]:
    """Keys of rows pending, or applied since `since`: what the replay sends (caching/consistency/replay.py)."""
    from django.db.models import Q

    return set(_model().objects.filter(Q(applied_at__isnull=True) | Q(applied_at__gte=since))
               .values_list("key", flat=True))


def apply_pending(cache: ConsistencyBackend, *, limit: int = BATCH) -> set[str] | None:
    """Apply up to `limit` pending invalidations through `cache`'s guard, and delete their rows.

    Returns the keys Redis still cannot be trusted with: empty when all were applied, None when it
    is all of them (Redis unavailable, or more rows pending than one call applies).
    """
    read_at = timezone.now()
    rows = list(_model().objects.filter(applied_at__isnull=True).order_by("id").values_list("id", "key")[: limit + 1])
    if not rows:
        return set()
    more = len(rows) > limit
    rows = rows[:limit]
    results = cache.guarded(lambda client: send_invalidations(client, cache.make_and_validate_key, [k for _, k in rows]),
                            default=None)
    if results is None:
        return None
    applied = [row_id for (row_id, _), ok in zip(rows, results) if ok]
    if applied:
        _mark_applied(applied, read_at)
        logger.warning("applied %d cache invalidation(s) that Redis had not taken", len(applied))
    untrusted = {key for (_, key), ok in zip(rows, results) if not ok}
    return None if more else untrusted


def _mark_applied(ids: list[int], read_at: datetime) -> None:
    """Mark rows applied (kept for the replay window). A row added again since it was read (its
    created_at is later: `add`) stays pending: that invalidation is not the one just sent."""
    model = _model()
    # SKIP LOCKED: another process draining the same rows must not make this turn wait for its commit.
    locked = model.objects.filter(id__in=ids, applied_at__isnull=True, created_at__lte=read_at)
    if connection.features.has_select_for_update_skip_locked and connection.in_atomic_block:
        locked = locked.select_for_update(skip_locked=True)
    model.objects.filter(id__in=locked.values("id")).update(applied_at=timezone.now())


def send_invalidations(client: Any, make_key: Callable[[str], str], keys: list[str]) -> list[bool]:
    """Invalidate `keys` through a raw client in one round trip; per key, whether Redis took it.

    EVAL, not EVALSHA: a Redis that restarted empty has no scripts loaded, and a pipeline cannot
    retry NOSCRIPT. Connection errors propagate (the guard counts them); error replies (OOM) are
    per key.
    """
    # One pipeline per node, each confirmed by a replica where there are replicas (caching/servers/replication.py).
    calls = [(INVALIDATE.source, [make_key(key), make_key(token_key(key))],
              [new_token(), INVALIDATED_TOKEN_TTL_MS]) for key in keys]
    replicas, timeout_ms = wait_policy()
    return [not isinstance(result, Exception)
            for result in run_scripts(client, calls, replicas=replicas, timeout_ms=timeout_ms)]


def replay_before_probe(client: Any, cache: ConsistencyBackend) -> None:
    """guard.PROBE_HOOKS entry: a breaker probing Redis applies every pending row with the probe's
    connection before the probe's own answer is used."""
    model = _model()
    last = 0
    try:
        # Onward by id, each row once: a row another transaction is deleting (it applied it too) is
        # skipped by _mark_applied's SKIP LOCKED and still listed until that one commits — which may be
        # waiting for a lock this thread's transaction holds. Reading from the start again would spin.
        read_at = timezone.now()
        while rows := list(model.objects.filter(id__gt=last, applied_at__isnull=True).order_by("id")
                           .values_list("id", "key")[:BATCH]):
            results = send_invalidations(client, cache.make_and_validate_key, [key for _, key in rows])
            if not all(results):
                raise RedisConnectionError("Redis refused pending invalidations")
            _mark_applied([row_id for row_id, _ in rows], read_at)
            last = rows[-1][0]
            logger.warning("replayed %d cache invalidation(s) recorded while Redis was unavailable", len(rows))
    except DatabaseError:
        # Without the outbox we cannot know what is stale: keep Redis untrusted (the probe fails).
        logger.warning("cannot read pending cache invalidations; Redis stays bypassed", exc_info=True)
        raise RedisConnectionError("pending invalidations unreadable") from None
