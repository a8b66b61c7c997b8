"""Invalidations Redis may not have applied, kept in the database until some process applies them.

A row names a key whose cached value may be stale in Redis. Rows come from two places:

- an invalidation (or history append) that Redis did not take after the commit — a timeout, a
  refused connection, or an error reply such as OOM: `add_untaken()`, before the write is acknowledged;
- an *intent*, written inside a transaction that is not a bot turn (the admin, a shell), so that a
  process killed between COMMIT and the Redis call leaves the row behind; deleted once Redis took
  the invalidation. (A bot turn records its keys on its ProcessedUpdate row instead: Telegram
  redelivers an update it got no answer for, and the redelivery applies them again.)

Every process learns that rows exist through the database before it reads from Redis
(caching/consistency/fence.py: the check is folded into the statement that claims a turn's update), and applies
them itself — so no process serves an entry that another process's acknowledged write made stale,
whichever process saw Redis fail, and with no cool-down to wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import DatabaseError, connection
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


def pending_sql() -> str:
    """An SQL expression, true while any invalidation is pending: folded into a statement a turn
    sends anyway, so learning that Redis cannot be trusted costs no round trip."""
    return f"EXISTS (SELECT 1 FROM {connection.ops.quote_name(_model()._meta.db_table)})"


def pending_exists() -> bool:
    return _model().objects.exists()


def add(keys: Iterable[str]) -> None:
    """Add rows for `keys` (one INSERT; keys already pending stay as they are). Raises DatabaseError:
    a write whose invalidation can be recorded nowhere must not be acknowledged."""
    model = _model()
    model.objects.bulk_create([model(key=key) for key in keys], ignore_conflicts=True)


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
    """Drop the intents of keys Redis has now taken. Best effort: a row left behind costs one more
    invalidation later, never a stale read."""
    keys = list(keys)
    try:
        _model().objects.filter(key__in=keys).delete()
    except DatabaseError:
        logger.warning("could not clear %d applied cache intent(s); they will be applied again", len(keys))


def apply_pending(cache: ConsistencyBackend, *, limit: int = BATCH) -> set[str] | None:
    """Apply up to `limit` pending invalidations through `cache`'s guard, and delete their rows.

    Returns the keys Redis still cannot be trusted with: empty when all were applied, None when it
    is all of them (Redis unavailable, or more rows pending than one call applies).
    """
    rows = list(_model().objects.order_by("id").values_list("id", "key")[: limit + 1])
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
        _delete(applied)
        logger.warning("applied %d cache invalidation(s) that Redis had not taken", len(applied))
    untrusted = {key for (_, key), ok in zip(rows, results) if not ok}
    return None if more else untrusted


def _delete(ids: list[int]) -> None:
    model = _model()
    # SKIP LOCKED: another process draining the same rows must not make this turn wait for its commit.
    locked = model.objects.filter(id__in=ids)
    if connection.features.has_select_for_update_skip_locked and connection.in_atomic_block:
        locked = locked.select_for_update(skip_locked=True)
    model.objects.filter(id__in=locked.values("id")).delete()


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
        # skipped by _delete's SKIP LOCKED and still listed until that one commits — which may be
        # waiting for a lock this thread's transaction holds. Reading from the start again would spin.
        while rows := list(model.objects.filter(id__gt=last).order_by("id").values_list("id", "key")[:BATCH]):
            results = send_invalidations(client, cache.make_and_validate_key, [key for _, key in rows])
            if not all(results):
                raise RedisConnectionError("Redis refused pending invalidations")
            _delete([row_id for row_id, _ in rows])
            last = rows[-1][0]
            logger.warning("replayed %d cache invalidation(s) recorded while Redis was unavailable", len(rows))
    except DatabaseError:
        # Without the outbox we cannot know what is stale: keep Redis untrusted (the probe fails).
        logger.warning("cannot read pending cache invalidations; Redis stays bypassed", exc_info=True)
        raise RedisConnectionError("pending invalidations unreadable") from None
