"""Read-through caching that never serves stale data (docs/ARCHITECTURE.md §5.1).

Every cached key has a version token beside it (caching/consistency/tokens.py). Invalidating
replaces the token with a fresh random one and deletes the value; a reader that missed reads the
token *before* it loads from the database and may fill only while the token is unchanged (one Lua
call). So a reader that loaded the old row just before a commit cannot store it after the
invalidation — the stale-set race. A token lost to eviction fails every in-flight fill (nil is never
equal to a random token) and a fresh token is minted by the next miss, so eviction can only cost
hits, never correctness.

A hit is one GET, as with cache.get; only a miss reads the token (before the database). Inside a bot
turn the values come from the turn's MGET (caching/consistency/turn_state.py), and a miss whose token
came with it fills in the commit's round trip (caching/consistency/commit_buffer.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from caching.backend import read_ahead, serializer, stats, verdicts
from caching.backend.scripts import ENSURE_TOKEN, FILL_IF_TOKEN
from caching.consistency import commit_buffer, fence, turn_state
from caching.consistency.backend import ConsistencyBackend, current_backend
from caching.consistency.tokens import TOKEN_TTL_FACTOR, ms, new_token, token_key
from caching.keys import namespace_of

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MISSING = object()
_UNAVAILABLE = object()


def _lookup(backend: ConsistencyBackend, key: str, valid: Callable[[Any], bool] | None = None) -> tuple[Any, bytes | None]:
    """(value or _MISSING, the value's bytes), or (_UNAVAILABLE, None) when Redis cannot answer.

    A hit is one GET, as with cache.get: the token matters only to a miss, which reads it next.
    A value `valid` rejects (anyone who can write to Redis can plant one) is refused like bytes the
    serializer cannot read: a counted miss and error, deleted, a warning.
    """
    namespace = namespace_of(key)
    rkey = backend.make_and_validate_key(key)
    buffered = read_ahead.values()
    raw: bytes | None | object
    if key in buffered:  # read in this turn: until the commit, the same answer serves again
        raw = buffered[key]
    else:
        raw = backend.read(rkey, namespace, _UNAVAILABLE)
    if raw is _UNAVAILABLE:
        return _UNAVAILABLE, None
    if isinstance(raw, bytes):
        try:
            value = serializer.loads(raw)
            # The same bytes passed before: checked once, not on every hit (caching/backend/verdicts.py).
            if valid is not None and not verdicts.passes(rkey, raw, value, valid):
                raise serializer.RefusedValue("not the shape this data path expects")
        except serializer.RefusedValue as refusal:
            backend.refuse(rkey, namespace, refusal)
            return _MISSING, None
        stats.record(namespace, stats.HIT)
        if turn_state.state.active:
            turn_state.state.seen[key] = (raw, value)
        return value, raw
    stats.record(namespace, stats.MISS)
    return _MISSING, None


def _ensure_token(backend: ConsistencyBackend, key: str, timeout: int) -> bytes | None:
    """The token a fill must find unchanged: read (or minted) *before* the database is."""
    return backend.run_script(ENSURE_TOKEN, [token_key(key)], [new_token(), ms(timeout) * TOKEN_TTL_FACTOR])


def _fill(backend: ConsistencyBackend, key: str, token: bytes, value: Any, timeout: int, *, compress: bool = True) -> bytes | None:
    """Store `value` if the token is unchanged; the stored bytes, or None if it was not stored."""
    data = serializer.dumps(value, compress=compress)
    stored = backend.run_script(
        FILL_IF_TOKEN, [key, token_key(key)], [token, data, ms(timeout), ms(timeout) * TOKEN_TTL_FACTOR]
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
    backend = current_backend()
    if backend is None:
        return load()
    op = commit_buffer.scheduled(key)
    if op is not None:  # this transaction changed what the key holds: the database has the truth
        read_ahead.values().pop(key, None)
        return load()
    if not fence.trusts(key):  # an invalidation Redis has not taken yet (caching/consistency/fence.py)
        return load()
    value, _ = _lookup(backend, key, valid)
    if value is _UNAVAILABLE:
        return load()
    if value is not _MISSING:
        return value
    # A token read with the entry (prefetch) was read before this load, as a fill needs: no round
    # trip for it, and the fill rides in the commit's round trip.
    token = turn_state.state.tokens.get(key) if turn_state.state.active else None
    if token:
        value = load()
        data = serializer.dumps(value)
        if commit_buffer.fill_on_commit(key, (token, data, timeout)):
            read_ahead.values()[key] = data
            # Loaded after its token was read, as a hit is read with it: a write later in the turn
            # keeps the entry warm from this value (commit_buffer.replace_on_commit) instead of
            # dropping it, so the turn after a miss that writes does not miss again.
            turn_state.state.seen[key] = (data, serializer.loads(data))
        elif _fill(backend, key, token, value, timeout) is None:
            read_ahead.values().pop(key, None)
        return value
    token = _ensure_token(backend, key, timeout)
    value = load()
    if token:
        stored = _fill(backend, key, token, value, timeout)
        if stored is not None and turn_state.state.active:
            read_ahead.values()[key] = stored
    return value


def read_through_list(key: str, load: Callable[[int], list[dict]], *, timeout: int, max_items: int,
                      valid: Callable[[Any], bool] | None = None) -> list[dict]:
    """Like read_through for a list of the latest `max_items` rows (dicts with an increasing "id"),
    kept warm by `append`. Inside a transaction that appended rows, reads see them, and a fill
    stores only what is committed (the appends follow on commit)."""
    backend = current_backend()
    if backend is None:
        return load(max_items)
    op = commit_buffer.scheduled(key)
    if (op is not None and op.invalidate) or not fence.trusts(key):
        read_ahead.values().pop(key, None)
        return load(max_items)
    own = op.appended if op is not None else []
    value, raw = _lookup(backend, key, valid)
    if value is _UNAVAILABLE:
        return load(max_items)
    if value is not _MISSING:
        last = value[-1]["id"] if value else 0
        return (value + [item for item in own if item["id"] > last])[-max_items:]
    token = _ensure_token(backend, key, timeout)
    rows = load(max_items + len(own))
    if token:
        own_ids = {item["id"] for item in own}
        committed = [row for row in rows if row["id"] not in own_ids][-max_items:]
        # Never compressed: Redis places appended rows into the entry itself (scripts.APPEND_ROWS).
        stored = _fill(backend, key, token, committed, timeout, compress=False)
        if stored is not None and turn_state.state.active:
            turn_state.state.seen[key] = (stored, committed)
            if not own:
                read_ahead.values()[key] = stored
    return rows[-max_items:]
