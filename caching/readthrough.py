"""Read-through caching that never serves stale data (DESIGN §5.1, §5.2).

Every cached key has a version token beside it (`<key>:token`, same hash slot). Invalidating
replaces the token with a fresh random one and deletes the value; a reader that missed reads the
token *before* it loads from the database and may fill only while the token is unchanged (one Lua
call). So a reader that loaded the old row just before a commit cannot store it after the
invalidation — the stale-set race. A token lost to eviction fails every in-flight fill (nil is never
equal to a random token) and a fresh token is minted by the next miss, so eviction can only cost
hits, never correctness.

A hit is one GET, as with cache.get; only a miss reads the token (before the database).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches

from . import fence, serializer, stats
from . import transaction as cache_transaction
from .keys import namespace_of
from .scripts import APPEND_IF_UNCHANGED, ENSURE_TOKEN, FILL_IF_TOKEN, INVALIDATE

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MISSING = object()
_UNAVAILABLE = object()
# A token outlives the value it guards, so it is still there when an in-flight fill checks it.
# (A token that expires anyway only fails the fills in flight; the next miss mints a new one.)
_TOKEN_TTL_FACTOR = 2
INVALIDATED_TOKEN_TTL_MS = 2 * 3600 * 1000


def token_key(key: str) -> str:
    return f"{key}:token"


def _backend() -> Any:
    """The cache backend, looked up once per call (each attribute of the `cache` proxy is a lookup
    of its own), or None when caching is disabled."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    return backend if getattr(backend, "enabled", False) else None


def _ms(seconds: int) -> int:
    return int(seconds * 1000)


def _lookup(backend: Any, key: str, valid: Callable[[Any], bool] | None = None) -> tuple[Any, bytes | None]:
    """(value or _MISSING, the value's bytes), or (_UNAVAILABLE, None) when Redis cannot answer.

    A hit is one GET, as with cache.get: the token matters only to a miss, which reads it next.
    A value `valid` rejects (anyone who can write to Redis can plant one) is refused like bytes the
    serializer cannot read: a counted miss and error, deleted, a warning.
    """
    namespace = namespace_of(key)
    rkey = backend.make_and_validate_key(key)
    raw = backend.guarded(lambda r: r.get(rkey), namespace=namespace, default=_UNAVAILABLE)
    if raw is _UNAVAILABLE:
        return _UNAVAILABLE, None
    if raw is not None:
        try:
            value = serializer.loads(raw)
            if valid is not None and not valid(value):
                raise serializer.RefusedValue("not the shape this data path expects")
        except serializer.RefusedValue as refusal:
            backend._refused(rkey, namespace, refusal)
            return _MISSING, None
        stats.record(namespace, stats.HIT)
        return value, raw
    stats.record(namespace, stats.MISS)
    return _MISSING, None


def _ensure_token(key: str, timeout: int) -> bytes | None:
    """The token a fill must find unchanged: read (or minted) *before* the database is."""
    return cache.run_script(ENSURE_TOKEN, [token_key(key)], [secrets.token_hex(8), _ms(timeout) * _TOKEN_TTL_FACTOR])


def _fill(key: str, token: bytes, value: Any, timeout: int) -> bytes | None:
    """Store `value` if the token is unchanged; the stored bytes, or None if it was not stored."""
    data = serializer.dumps(value)
    stored = cache.run_script(
        FILL_IF_TOKEN, [key, token_key(key)], [token, data, _ms(timeout), _ms(timeout) * _TOKEN_TTL_FACTOR]
    )
    if stored:
        stats.record(namespace_of(key), stats.SET)
        return data
    if stored == 0:
        logger.debug("cache fill of %s skipped: invalidated while loading", key)
    return None


def read_through(key: str, load: Callable[[], T], *, timeout: int, valid: Callable[[Any], bool] | None = None) -> T:
    """The cached value at `key`, or `load()` — stored only if nothing invalidated it meanwhile.
    `valid(value)`: whether a cached value has the shape `load` returns (else it is refused)."""
    backend = _backend()
    if backend is None:
        return load()
    op = cache_transaction.pending(key)
    if op is not None:  # this transaction changed what the key holds: the database has the truth
        return load()
    if not fence.trusts(key):  # an invalidation Redis has not taken yet (caching/fence.py)
        return load()
    value, _ = _lookup(backend, key, valid)
    if value is _UNAVAILABLE:
        return load()
    if value is not _MISSING:
        return value
    token = _ensure_token(key, timeout)
    value = load()
    if token:
        _fill(key, token, value, timeout)
    return value


def read_through_list(key: str, load: Callable[[int], list[dict]], *, timeout: int, max_items: int,
                      valid: Callable[[Any], bool] | None = None) -> list[dict]:
    """Like read_through for a list of the latest `max_items` rows (dicts with an increasing "id"),
    kept warm by `append`. Inside a transaction that appended rows, reads see them, and a fill
    stores only what is committed (the appends follow on commit)."""
    backend = _backend()
    if backend is None:
        return load(max_items)
    op = cache_transaction.pending(key)
    if (op is not None and op.invalidate) or not fence.trusts(key):
        return load(max_items)
    own = op.appended if op is not None else []
    value, raw = _lookup(backend, key, valid)
    if value is _UNAVAILABLE:
        return load(max_items)
    if value is not _MISSING:
        if op is not None:  # the append on commit starts from what we read: no second GET
            op.seen = (raw, value)
        last = value[-1]["id"] if value else 0
        return (value + [item for item in own if item["id"] > last])[-max_items:]
    token = _ensure_token(key, timeout)
    rows = load(max_items + len(own))
    if token:
        own_ids = {item["id"] for item in own}
        committed = [row for row in rows if row["id"] not in own_ids][-max_items:]
        stored = _fill(key, token, committed, timeout)
        if stored is not None and op is not None:
            op.seen = (stored, committed)
    return rows[-max_items:]


def invalidate(key: str) -> int | None:
    """Drop `key` and change its token, now; how many values went (0 or 1), or None when Redis did
    not take it (unavailable, or an error reply such as OOM) — the caller records it then
    (caching/outbox.py). Called on commit (caching.transaction) and by operators' commands."""
    if _backend() is None:
        return 0
    removed = cache.run_script(INVALIDATE, [key, token_key(key)], [secrets.token_hex(8), INVALIDATED_TOKEN_TTL_MS])
    if removed is None:
        return None
    stats.record(namespace_of(key), stats.DELETE)
    return removed


def append(key: str, items: list[dict], *, max_items: int, timeout: int,
           seen: tuple[bytes, list[dict]] | None = None) -> bool:
    """Add committed rows to the cached list, or drop the entry where they would land out of order.
    False when Redis did not take it (the caller records the key as pending then).

    `seen`: the entry as this transaction read it (bytes, value). The script only replaces the
    exact bytes it expects, so starting from them saves a GET and stays safe if they changed.
    """
    if _backend() is None:
        return True
    if seen is not None:
        raw, current = seen
    else:
        rkey = cache.make_and_validate_key(key)
        raw = cache.guarded(lambda r: r.get(rkey), namespace=namespace_of(key), default=_UNAVAILABLE)
        if raw is _UNAVAILABLE:
            return False
        try:
            current = None if raw is None else serializer.loads(raw)
        except serializer.RefusedValue:
            current = None
    expected, new = b"", None
    if raw is not None:
        if current is not None and _in_order(current, items):
            expected, new = raw, serializer.dumps((current + items)[-max_items:])
    done = cache.run_script(
        APPEND_IF_UNCHANGED,
        [key, token_key(key)],
        [expected, new or b"", secrets.token_hex(8), _ms(timeout), _ms(timeout) * _TOKEN_TTL_FACTOR],
    )
    if done is None:
        return False
    stats.record(namespace_of(key), stats.SET if done == 1 else stats.DELETE)
    return True


def _in_order(current: list[dict], items: list[dict]) -> bool:
    if type(current) is not list:  # not a list this module wrote (planted, corrupt): drop it
        return False
    if not current:
        return True
    last = current[-1]
    first = items[0]
    if type(last) is not dict or type(last.get("id")) is not int or type(last.get("created_at")) is not str:
        return False
    return first["id"] > last["id"] and first["created_at"] >= last["created_at"]
