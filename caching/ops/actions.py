"""Cache invalidation an operator (or an admin action) asks for. Writes to the data itself keep their
entries fresh through the apps' own receivers; these are for "drop it now"."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from caching.backend.cache import redis_cache
from caching.backend import stats
from caching.consistency.invalidation import invalidate
from caching.consistency.outbox import add_untaken
from caching.keys import NAMESPACES, namespace_of, user_keys
from healthagent.errors import ApplicationError

_SCAN_BATCH = 500


def require_shared_cache() -> None:
    """For commands run in a process of their own: refuse where they cannot reach the service's cache."""
    if getattr(cache, "process_local", False):
        raise ApplicationError(
            "The cache is in-process fakeredis (EMBEDDED_REDIS=fakeredis, or valkey-server cannot run here): "
            "this command would only see its own empty copy, not the running service's. Set REDIS_URL to a "
            "Redis the service uses, or run the embedded valkey-server (EMBEDDED_REDIS=valkey).",
            status=503,
        )


def invalidate_user(*, user_id: int) -> int:
    """Delete every cached entry of one user; return how many existed. No SCAN: the per-user keys
    are known (keys.USER_KEY_FUNCTIONS), so this may run inside a request. Tokens change too, so a
    fill already in flight cannot put the old value back (caching/consistency/tokens.py)."""
    if redis_cache() is None:
        return 0
    removed = {key: invalidate(key) for key in user_keys(user_id)}
    missed = [key for key, count in removed.items() if count is None]
    for key in missed:
        add_untaken(key)  # applied by the next process that reads it (caching/consistency/fence.py)
    if missed:
        raise _unreachable()
    return sum(count or 0 for count in removed.values())


def refuse_value(*, key: str, reason: str) -> None:
    """A value `cache.get`/`get_or_set` just returned that the data path cannot use (the wrong shape:
    planted or corrupt): counted as a miss and an error instead of the hit it was counted as,
    deleted, and logged — as the backend does with bytes it cannot read."""
    backend = redis_cache()
    if backend is None:
        return
    namespace = namespace_of(key)
    stats.record(namespace, stats.HIT, -1)
    backend.refuse(backend.make_and_validate_key(key), namespace, ValueError(reason))


def invalidate_namespace(*, namespace: str) -> int:
    """Delete every entry of one namespace, in every key version; return how many. Uses SCAN, which
    walks the whole keyspace: for operators and admin actions, never for a bot turn."""
    if namespace not in NAMESPACES:
        raise ApplicationError(f"Unknown cache namespace {namespace!r}; expected one of: {', '.join(NAMESPACES)}")
    backend = redis_cache()
    if backend is None:
        return 0
    pattern = backend.key_func(f"{namespace}:*", _glob_escape(backend.key_prefix), "*")
    removed = backend.guarded(lambda r: _unlink_matching(r, pattern), default=None)
    if removed is None:
        raise _unreachable()
    stats.record(namespace, stats.DELETE, removed)
    return removed


def _unlink_matching(r: Any, pattern: str) -> int:
    removed = 0
    batch: list[bytes] = []
    for key in r.scan_iter(match=pattern, count=_SCAN_BATCH):
        batch.append(key)
        if len(batch) == _SCAN_BATCH:
            removed += r.unlink(*batch)
            batch = []
    if batch:
        removed += r.unlink(*batch)
    return removed


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _unreachable() -> ApplicationError:
    breaker = getattr(cache, "breaker", None)
    reason = breaker.last_error if breaker is not None and breaker.last_error else "no answer"
    return ApplicationError(
        f"Redis cannot be reached ({reason}); the invalidation is recorded and runs when Redis is back",
        status=503,
    )
