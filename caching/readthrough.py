"""Read-through caching that never serves stale data (docs/ARCHITECTURE.md, "The cache layer").

Every cached key has a version token beside it (`<key>:token`, same hash slot). Invalidating
replaces the token with a fresh random one and deletes the value; a reader that missed reads the
token *before* it loads from the database and may fill only while the token is unchanged (one Lua
call). So a reader that loaded the old row just before a commit cannot store it after the
invalidation — the stale-set race. A token lost to eviction fails every in-flight fill (nil is never
equal to a random token) and a fresh token is minted by the next miss, so eviction can only cost
hits, never correctness.

A hit is one GET, as with cache.get; only a miss reads the token (before the database). A bot turn
reads all of one user's entries in one MGET (`prefetch`: one hash slot, so Cluster-safe), with the
memory's token, and sends everything it changed in one pipelined round trip on commit (`apply_ops`,
from caching.transaction) — a fill of what it missed too, when the token came with the MGET.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from redis.exceptions import NoScriptError

from . import fence, serializer, stats
from . import transaction as cache_transaction
from .keys import namespace_of
from .scripts import APPEND_ROWS, ENSURE_TOKEN, FILL_IF_TOKEN, INVALIDATE, REPLACE_IF_TOKEN
from .topology import NotReplicated, is_cluster, run_durable, run_scripts, wait_policy

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


class _Turn(threading.local):
    """What this thread's bot turn read from Redis (inside `turn()`)."""

    active = False
    prefetched: dict[str, bytes | None]  # raw values one MGET brought, each consumed by one read
    seen: dict[str, tuple[bytes, Any]]  # (bytes, value) of entries the turn read: `replace_on_commit`
    tokens: dict[str, bytes | None]  # tokens read with them, before any load: `replace_on_commit`

    def __init__(self) -> None:
        self.prefetched, self.seen, self.tokens = {}, {}, {}


_turn = _Turn()


@contextmanager
def turn() -> Iterator[None]:
    """A bot turn: open it around the transaction, so that what runs on commit sees what it read."""
    outer = (_turn.active, _turn.prefetched, _turn.seen, _turn.tokens)
    _turn.active, _turn.prefetched, _turn.seen, _turn.tokens = True, {}, {}, {}
    try:
        yield
    finally:
        _turn.active, _turn.prefetched, _turn.seen, _turn.tokens = outer


def prefetch(keys: list[str], *, tokens: tuple[str, ...] = (), others: tuple[str, ...] = ()) -> None:
    """Read `keys` — one user's, one hash slot — and the tokens of `tokens` in one MGET, plus `others`
    (keys of other slots, e.g. a food lookup the turn will make) in the same pipeline: one round trip.
    The turn's reads take their values from it until the commit. Call it after the turn's outbox
    check (caching/fence.py): keys that check does not trust are left out, and read the way it says."""
    backend = _backend()
    if backend is None or not _turn.active:
        return
    keys = [key for key in keys if fence.trusts(key)]
    others = tuple(key for key in others if fence.trusts(key))
    tokens = tuple(key for key in tokens if key in keys)
    wanted = keys + [token_key(key) for key in tokens]
    if not wanted and not others:
        return
    make_key = backend.make_and_validate_key
    rkeys = [make_key(key) for key in wanted]
    namespaces = [namespace_of(key) for key in (*keys, *others)]

    def read(r: Any) -> list[Any]:
        if not others:
            return r.mget(rkeys)
        if is_cluster(r):  # a Cluster pipeline has no MGET; the keys may be on several nodes
            return [*(r.mget(rkeys) if rkeys else []), *(r.get(make_key(key)) for key in others)]
        pipe = r.pipeline(transaction=False)
        if rkeys:
            pipe.mget(rkeys)
        for key in others:
            pipe.get(make_key(key))
        answers = pipe.execute()
        return [*(answers[0] if rkeys else []), *answers[1 if rkeys else 0:]]

    raws = backend._guard(read, namespaces, "get_many", None, write=False)
    if raws is None:  # Redis did not answer: each read finds out for itself (the breaker is counting)
        return
    _turn.prefetched.update(zip(keys, raws))
    _turn.tokens.update(zip(tokens, raws[len(keys):len(wanted)]))
    _turn.prefetched.update(zip(others, raws[len(wanted):]))


def take_prefetched(key: str) -> Any:
    """The raw value `prefetch` read for `key` in this turn (None: Redis had none), once; or
    NOT_PREFETCHED. For the backend's own reads (get, get_or_set)."""
    if not _turn.prefetched:
        return NOT_PREFETCHED
    return _turn.prefetched.pop(key, NOT_PREFETCHED)


NOT_PREFETCHED = object()


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
    if key in _turn.prefetched:  # read in this turn: until the commit, the same answer serves again
        raw = _turn.prefetched[key]
    else:
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
        if _turn.active:
            _turn.seen[key] = (raw, value)
        return value, raw
    stats.record(namespace, stats.MISS)
    return _MISSING, None


def _ensure_token(key: str, timeout: int) -> bytes | None:
    """The token a fill must find unchanged: read (or minted) *before* the database is."""
    return cache.run_script(ENSURE_TOKEN, [token_key(key)], [secrets.token_hex(8), _ms(timeout) * _TOKEN_TTL_FACTOR])


def _fill(key: str, token: bytes, value: Any, timeout: int, *, compress: bool = True) -> bytes | None:
    """Store `value` if the token is unchanged; the stored bytes, or None if it was not stored."""
    data = serializer.dumps(value, compress=compress)
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
        _turn.prefetched.pop(key, None)
        return load()
    if not fence.trusts(key):  # an invalidation Redis has not taken yet (caching/fence.py)
        return load()
    value, _ = _lookup(backend, key, valid)
    if value is _UNAVAILABLE:
        return load()
    if value is not _MISSING:
        return value
    # A token read with the entry (prefetch) was read before this load, as a fill needs: no round
    # trip for it, and the fill rides in the commit's round trip.
    token = _turn.tokens.get(key) if _turn.active else None
    if token:
        value = load()
        data = serializer.dumps(value)
        if cache_transaction.fill_on_commit(key, (token, data, timeout)):
            _turn.prefetched[key] = data
        elif _fill(key, token, value, timeout) is None:
            _turn.prefetched.pop(key, None)
        return value
    token = _ensure_token(key, timeout)
    value = load()
    if token:
        stored = _fill(key, token, value, timeout)
        if stored is not None and _turn.active:
            _turn.prefetched[key] = stored
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
        _turn.prefetched.pop(key, None)
        return load(max_items)
    own = op.appended if op is not None else []
    value, raw = _lookup(backend, key, valid)
    if value is _UNAVAILABLE:
        return load(max_items)
    if value is not _MISSING:
        last = value[-1]["id"] if value else 0
        return (value + [item for item in own if item["id"] > last])[-max_items:]
    token = _ensure_token(key, timeout)
    rows = load(max_items + len(own))
    if token:
        own_ids = {item["id"] for item in own}
        committed = [row for row in rows if row["id"] not in own_ids][-max_items:]
        # Never compressed: Redis places appended rows into the entry itself (scripts.APPEND_ROWS).
        stored = _fill(key, token, committed, timeout, compress=False)
        if stored is not None and _turn.active:
            _turn.seen[key] = (stored, committed)
            if not own:
                _turn.prefetched[key] = stored
    return rows[-max_items:]


def invalidate(key: str) -> int | None:
    """Drop `key` and change its token, now; how many values went (0 or 1), or None when Redis did
    not take it (unavailable, or an error reply such as OOM) — the caller records it then
    (caching/outbox.py). Called on commit (caching.transaction) and by operators' commands."""
    if _backend() is None:
        return 0
    # run_durable: on Sentinel/Cluster, not taken until a replica has it too (caching/topology.py).
    removed = run_durable(cache, INVALIDATE, [key, token_key(key)], [secrets.token_hex(8), INVALIDATED_TOKEN_TTL_MS])
    if removed is None:
        return None
    stats.record(namespace_of(key), stats.DELETE)
    return removed


def replace_on_commit(key: str, change: Callable[[Any], Any], *, timeout: int) -> bool:
    """Keep `key` warm across a write this transaction made: on commit, store `change(value)` —
    the entry as this turn read it, with the write applied — instead of only dropping it.

    Safe because the token was read with the entry, before anything was built from it: the new value
    is stored only while the token is unchanged, i.e. while no other commit's invalidation has run
    since (one that runs later drops it). Call it right after the write, and only when nothing else
    in the transaction changed `key` before (`change` must describe every change). False when the
    turn did not read the entry with its token: the invalidation the write scheduled stays as it is.
    """
    op = cache_transaction.pending(key)
    seen, token = _turn.seen.get(key), _turn.tokens.get(key)
    if op is None or not op.invalidate or seen is None or not token:
        return False
    value = change(copy.deepcopy(seen[1]))
    op.replacement = (serializer.dumps(value), token, timeout)
    return True


def append(key: str, items: list[dict], *, max_items: int, timeout: int) -> bool:
    """Add committed rows to the cached list, or drop the entry where they would land out of order.
    False when Redis did not take it (the caller records the key as pending then)."""
    op = cache_transaction.PendingOp(appended=list(items), max_items=max_items, timeout=timeout)
    return apply_ops([(key, op)])[0]


def apply_ops(ops: list[tuple[str, Any]]) -> list[bool]:
    """Send what a transaction scheduled (caching.transaction.PendingOp per key) in one pipelined
    round trip; per key, whether Redis took it (False: the caller records it in the outbox).

    EVALSHA in the pipeline; scripts a restarted Redis no longer has are sent again with EVAL.
    """
    backend = _backend()
    _turn.prefetched.clear()  # read before the commit: never an answer after it
    if backend is None:
        return [True] * len(ops)
    namespaces = [namespace_of(key) for key, _ in ops]
    calls = [_command(backend, key, op) for key, op in ops]

    def send(client: Any) -> list[Any]:
        replicas, timeout_ms = wait_policy()
        if replicas or is_cluster(client):  # per node, confirmed by a replica (caching/topology.py)
            sent = iter(run_scripts(client, [(c[0].source, c[1], c[2]) for c in calls if c is not None],
                                    replicas=replicas, timeout_ms=timeout_ms))
            return [next(sent) if call is not None else 1 for call in calls]
        pipe = client.pipeline(transaction=False)
        for call in calls:
            if call is not None:
                script, keys, args = call
                pipe.evalsha(script.sha, len(keys), *keys, *args)
        results = iter(pipe.execute(raise_on_error=False))
        answers = [next(results) if call is not None else 1 for call in calls]
        missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if missing:
            pipe = client.pipeline(transaction=False)
            for i in missing:
                script, keys, args = calls[i]
                pipe.eval(script.source, len(keys), *keys, *args)
            for i, answer in zip(missing, pipe.execute(raise_on_error=False)):
                answers[i] = answer
        return answers

    answers = backend._guard(send, namespaces, "on_commit", None)
    if answers is None:  # a fill not sent only costs a hit: never an outbox row
        return [op.fill_only for _, op in ops]
    taken = []
    for (key, op), answer in zip(ops, answers):
        if isinstance(answer, NotReplicated):  # the primary took it, no replica confirmed: not an error
            taken.append(False)  # reply, but not taken either (the caller records it, logged at INFO)
            continue
        if isinstance(answer, Exception):  # an error reply for this key (OOM): recorded by the caller
            backend._failed(answer, (namespace_of(key),), "on_commit")
            taken.append(op.fill_only)
            continue
        if op.fill_only:
            if answer == 1:
                stats.record(namespace_of(key), stats.SET)
            taken.append(True)
            continue
        if op.invalidate or op.appended:
            stored = answer == 1 and (op.replacement is not None if op.invalidate else True)
            stats.record(namespace_of(key), stats.SET if stored else stats.DELETE)
        taken.append(True)
    return taken


def _command(backend: Any, key: str, op: Any) -> tuple[Any, list[str], list[Any]] | None:
    """(script, Redis keys, args) for one key's op, or None when there is nothing to send."""
    keys = [backend.make_and_validate_key(key), backend.make_and_validate_key(token_key(key))]
    if op.fill_only:
        token, data, timeout = op.fill
        return FILL_IF_TOKEN, keys, [token, data, _ms(timeout), _ms(timeout) * _TOKEN_TTL_FACTOR]
    if op.invalidate:
        if op.replacement is not None:
            data, token, timeout = op.replacement
            return REPLACE_IF_TOKEN, keys, [token, data, secrets.token_hex(8), _ms(timeout),
                                            _ms(timeout) * _TOKEN_TTL_FACTOR, INVALIDATED_TOKEN_TTL_MS]
        return INVALIDATE, keys, [secrets.token_hex(8), INVALIDATED_TOKEN_TTL_MS]
    if not op.appended:
        return None
    items = op.appended[-op.max_items:]
    rows = [serializer.dumps(item, compress=False) for item in items]
    args: list[Any] = [len(rows), op.max_items, secrets.token_hex(8), _ms(op.timeout),
                       _ms(op.timeout) * _TOKEN_TTL_FACTOR]
    if all(row.startswith(b'{"id":') and row.endswith(b'"}') for row in rows):
        for item, row in zip(items, rows):
            args += [item["id"], item["created_at"], row]
    else:  # not rows the script can place: drop the entry (the token changes too)
        args[0] = 0
    return APPEND_ROWS, keys, args
