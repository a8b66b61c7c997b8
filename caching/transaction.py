"""Cache maintenance that waits for the commit (docs/ARCHITECTURE.md, "The cache layer").

Receivers call `invalidate_on_commit` / `append_on_commit`; nothing touches Redis before the
transaction commits, so a concurrent reader can never re-cache a row we are about to change and keep
it past our invalidation. Within one transaction the operations on a key are buffered and sent as
one, however many rows changed (a /forget deleting a thousand messages is one Redis call per key),
and all the keys of one transaction go to Redis in one pipelined round trip.

The buffer also tells `readthrough` which keys this transaction has dirtied, so that reads inside it
see their own writes and never fill the cache with uncommitted data.

What Redis does not take after the commit is recorded in the outbox (caching/outbox.py) before the
write is acknowledged. A process can also die between COMMIT and the Redis call: so a transaction
records an *intent* row for each key it schedules, inside the transaction, cleared once Redis took
the operation — except inside `journal()`, where the caller keeps the keys itself (a bot turn stores
them on its ProcessedUpdate, and the redelivery Telegram sends after a crash applies them again).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@dataclass
class PendingOp:
    invalidate: bool = False
    appended: list[dict] = field(default_factory=list)  # ignored once invalidate is set
    max_items: int = 0
    timeout: int = 0
    intent: bool = False  # an outbox row was written for it inside the transaction
    # (bytes, token, timeout): store these bytes instead of only dropping the value, if the token is
    # unchanged (readthrough.replace_on_commit). Any later invalidation in the transaction clears it.
    replacement: tuple[bytes, bytes, int] | None = None
    # (token, bytes, timeout): a read-through fill sent with the commit's round trip instead of one of
    # its own (readthrough.read_through). Only on an op that does nothing else: any change clears it.
    fill: tuple[bytes, bytes, int] | None = None

    @property
    def fill_only(self) -> bool:
        return self.fill is not None


class _State(threading.local):
    callbacks: Any = None  # the connection's run_on_commit list these ops were registered on
    ops: dict[str, PendingOp]
    journaled = 0  # depth of journal() blocks on this thread

    def __init__(self) -> None:
        self.ops = {}


_state = _State()


class _Flush:
    """The on-commit callback for one key; it carries its op so the buffer can be rebuilt."""

    def __init__(self, key: str, op: PendingOp) -> None:
        self.key, self.op = key, op
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        flushes = [self]
        callbacks = _state.callbacks
        # Django pops each callback off the list it runs. When that is the list this buffer was last
        # built on, `self` is no longer in it and the _Flush entries still in it are exactly the ones
        # that survived to the commit: all of them go to Redis now, in one round trip. (If a
        # savepoint rollback replaced the list since, which ones survived is not known here: each
        # key is then sent by its own callback.)
        if callbacks is not None and not any(cb is self for _, cb, _ in callbacks):
            flushes += [cb for _, cb, _ in callbacks if isinstance(cb, _Flush) and not cb.done]
        for flush in flushes:
            flush.done = True
            if _state.ops.get(flush.key) is flush.op:
                del _state.ops[flush.key]
        _apply_all([(flush.key, flush.op) for flush in flushes])


def _apply(key: str, op: PendingOp) -> None:
    _apply_all([(key, op)])


def _apply_all(ops: list[tuple[str, PendingOp]]) -> None:
    from . import outbox, readthrough

    results = readthrough.apply_ops(ops)
    for (key, _), taken in zip(ops, results):
        if not taken:
            outbox.remember(key)  # raises if the database cannot take it either: nothing is acknowledged
    applied = [key for (key, op), taken in zip(ops, results) if taken and op.intent]
    if applied:
        outbox.forget(applied)


def _ops(using: str) -> dict[str, PendingOp] | None:
    """This transaction's buffer, or None outside a transaction (then ops run at once).

    Django replaces `run_on_commit` with a new list whenever it drops callbacks (commit, rollback,
    savepoint rollback): the buffer is then rebuilt from the callbacks that survived.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        return None
    if _state.callbacks is not connection.run_on_commit:
        _state.callbacks = connection.run_on_commit
        _state.ops = {cb.key: cb.op for _, cb, _ in _state.callbacks if isinstance(cb, _Flush)}
    return _state.ops


def _schedule(key: str, using: str) -> PendingOp:
    ops = _ops(using)
    assert ops is not None, "only inside a transaction"
    op = ops.get(key)
    if op is None or op.fill_only:
        if op is None:
            op = ops[key] = PendingOp()
            transaction.on_commit(_Flush(key, op), using=using)
        op.fill, op.intent = None, not _state.journaled  # a write: its read's fill is no longer wanted
        if op.intent:
            from . import outbox

            outbox.record([key])  # committed with the write: a crash after COMMIT leaves it behind
    return op


def fill_on_commit(key: str, fill: tuple[bytes, bytes, int], *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Send a read-through fill (token, bytes, timeout) with what this transaction sends on commit:
    one round trip for both. False outside a transaction, or when it already has an op for `key`.
    A fill lost (rollback, Redis down) only costs a hit: it is never recorded in the outbox."""
    ops = _ops(using)
    if ops is None or key in ops:
        return False
    op = ops[key] = PendingOp(fill=fill)
    transaction.on_commit(_Flush(key, op), using=using)
    return True


@contextmanager
def journal() -> Iterator[None]:
    """Transactions in this block keep their cache keys themselves (`scheduled_keys()`): no intent rows."""
    _state.journaled += 1
    try:
        yield
    finally:
        _state.journaled -= 1


def scheduled_keys(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The keys this transaction will invalidate or append to on commit."""
    ops = _ops(using)
    return sorted(key for key, op in ops.items() if not op.fill_only) if ops else []


def enabled() -> bool:
    """Whether caching is on (ENABLE_CACHE): off, nothing is cached and nothing is scheduled."""
    from django.core.cache import cache

    return getattr(cache, "enabled", False)


def invalidate_on_commit(key: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    if not enabled():  # ENABLE_CACHE=false: nothing cached, nothing to keep fresh
        return
    ops = _ops(using)
    if ops is None:
        _apply(key, PendingOp(invalidate=True))
        return
    op = _schedule(key, using)
    op.invalidate, op.replacement = True, None


def append_on_commit(key: str, item: dict, *, max_items: int, timeout: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Add `item` (a dict with an increasing "id") to the cached list at `key` once committed."""
    if not enabled():
        return
    ops = _ops(using)
    if ops is None:
        _apply(key, PendingOp(appended=[item], max_items=max_items, timeout=timeout))
        return
    op = _schedule(key, using)
    op.appended.append(item)
    op.max_items, op.timeout = max_items, timeout


def pending(key: str, *, using: str = DEFAULT_DB_ALIAS) -> PendingOp | None:
    """What this transaction will do to `key` on commit, if anything."""
    if not _state.ops:  # the hot path: nothing buffered on this thread, no connection lookup
        return None
    ops = _ops(using)
    op = None if ops is None else ops.get(key)
    return None if op is None or op.fill_only else op
