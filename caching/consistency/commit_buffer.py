"""Cache maintenance that waits for the commit (docs/ARCHITECTURE.md, "The cache layer").

Receivers call `invalidate_on_commit` / `append_on_commit`; nothing touches Redis before the
transaction commits, so a concurrent reader can never re-cache a row we are about to change and keep
it past our invalidation. Within one transaction the operations on a key are buffered and sent as
one, however many rows changed (a /forget deleting a thousand messages is one Redis call per key),
and all the keys of one transaction go to Redis in one pipelined round trip.

The buffer also tells the reads (caching/consistency/reads.py) which keys this transaction has dirtied, so that reads inside it
see their own writes and never fill the cache with uncommitted data.

What Redis does not take after the commit is recorded in the outbox (caching/consistency/outbox.py) before the
write is acknowledged. A process can also die between COMMIT and the Redis call: so a transaction
records an *intent* row for each key it schedules, inside the transaction, cleared once Redis took
the operation — except inside `journal()`, where the caller keeps the keys itself (a bot turn stores
them on its ProcessedUpdate, and the redelivery Telegram sends after a crash applies them again).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from caching.backend import serializer
from caching.consistency import outbox, turn_state
from caching.consistency.backend import current_backend
from caching.consistency.invalidation import CommitOp, apply_ops


class _State(threading.local):
    callbacks: Any = None  # the connection's run_on_commit list these ops were registered on
    ops: dict[str, CommitOp]
    journaled = 0  # depth of journal() blocks on this thread

    def __init__(self) -> None:
        self.ops = {}


_state = _State()


class _Flush:
    """The on-commit callback for one key; it carries its op so the buffer can be rebuilt."""

    def __init__(self, key: str, op: CommitOp) -> None:
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
        latest: dict[str, CommitOp] = {}
        for flush in flushes:  # in the order registered: a key's later op supersedes its earlier one
            flush.done = True
            if _state.ops.get(flush.key) is flush.op:
                del _state.ops[flush.key]
            latest.pop(flush.key, None)
            latest[flush.key] = flush.op
        _apply_all(list(latest.items()))


def _apply(key: str, op: CommitOp) -> None:
    _apply_all([(key, op)])


def _apply_all(ops: list[tuple[str, CommitOp]]) -> None:
    # Tokens a bot turn read before its commit are not the ones after it (the commit replaces them):
    # a read after it (a new profile's fill, run on commit) must read its token afresh, or its fill
    # is refused and the entry stays empty until the next turn misses.
    turn_state.state.tokens.clear()
    results = apply_ops(ops)
    for (key, _), taken in zip(ops, results):
        if not taken:
            outbox.add_untaken(key)  # raises if the database cannot take it either: nothing is acknowledged
    applied = [key for (key, op), taken in zip(ops, results) if taken and op.intent]
    if applied:
        outbox.clear_applied(applied)


def _ops(using: str) -> dict[str, CommitOp] | None:
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


def _schedule(key: str, using: str) -> CommitOp:
    ops = _ops(using)
    assert ops is not None, "only inside a transaction"
    op = ops.get(key)
    if op is None or op.fill_only:
        if op is None:
            op = ops[key] = CommitOp()
            transaction.on_commit(_Flush(key, op), using=using)
        op.fill, op.intent = None, not _state.journaled  # a write: its read's fill is no longer wanted
        if op.intent:
            outbox.add([key])  # committed with the write: a crash after COMMIT leaves it behind
    return op


def fill_on_commit(key: str, fill: tuple[bytes, bytes, int], *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Send a read-through fill (token, bytes, timeout) with what this transaction sends on commit:
    one round trip for both. False outside a transaction, or when it already has an op for `key`.
    A fill lost (rollback, Redis down) only costs a hit: it is never recorded in the outbox."""
    ops = _ops(using)
    if ops is None or key in ops:
        return False
    op = ops[key] = CommitOp(fill=fill)
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
    return current_backend() is not None


def invalidate_on_commit(key: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    if not enabled():  # ENABLE_CACHE=false: nothing cached, nothing to keep fresh
        return
    ops = _ops(using)
    if ops is None:
        _apply(key, CommitOp(invalidate=True))
        return
    op = _schedule(key, using)
    op.invalidate, op.replacement = True, None


def append_on_commit(key: str, item: dict, *, max_items: int, timeout: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Add `item` (a dict with an increasing "id") to the cached list at `key` once committed."""
    if not enabled():
        return
    ops = _ops(using)
    if ops is None:
        _apply(key, CommitOp(appended=[item], max_items=max_items, timeout=timeout))
        return
    op = _schedule(key, using)
    op.appended.append(item)
    op.max_items, op.timeout = max_items, timeout


def scheduled(key: str, *, using: str = DEFAULT_DB_ALIAS) -> CommitOp | None:
    """What this transaction will do to `key` on commit, if anything."""
    if not _state.ops:  # the hot path: nothing buffered on this thread, no connection lookup
        return None
    ops = _ops(using)
    op = None if ops is None else ops.get(key)
    return None if op is None or op.fill_only else op


def replace_on_commit(key: str, change: Callable[[Any], Any], *, timeout: int) -> bool:
    """Keep `key` warm across a write this transaction made: on commit, store `change(value)` —
    the entry as this turn read it, with the write applied — instead of only dropping it.

    Safe because the token was read with the entry, before anything was built from it: the new value
    is stored only while the token is unchanged, i.e. while no other commit's invalidation has run
    since (one that runs later drops it). Call it right after the write, and only when nothing else
    in the transaction changed `key` before (`change` must describe every change). False when the
    turn did not read the entry with its token: the invalidation the write scheduled stays as it is.
    """
    op = scheduled(key)
    seen, token = turn_state.state.seen.get(key), turn_state.state.tokens.get(key)
    if op is None or not op.invalidate or seen is None or not token:
        return False
    value = change(copy.deepcopy(seen[1]))
    op.replacement = (serializer.dumps(value), token, timeout)
    return True


@contextmanager
def kept_warm(key: str, *, timeout: int) -> Iterator[list[Callable[[Any], Any]]]:
    """Around one write to the entry at `key`: the block appends how the cached value changes, and on
    commit the new value is stored (under a fresh token: `replace_on_commit`) instead of only dropped,
    so the next read hits. When the transaction changed `key` before, that is done only if every
    earlier change was kept warm too (a turn that drops a pending question, then saves a /set): this
    change then applies to the value they built. Any other change to `key` in the transaction drops it."""
    op = scheduled(key)
    before = None if op is None else op.replacement  # read now: the block's own write clears it
    changes: list[Callable[[Any], Any]] = []
    yield changes
    if not changes:
        return

    def change(value: Any) -> Any:
        for step in changes:
            value = step(value) if value is not None else None
        return value

    if op is None:
        replace_on_commit(key, change, timeout=timeout)
    elif before is not None:
        _replace_again(key, before, change)


def _replace_again(key: str, before: tuple[bytes, bytes, int], change: Callable[[Any], Any]) -> None:
    """The transaction's replacement of `key` (`before`, built from the entry the turn read and its
    earlier changes), with one more change applied. Kept on an op of its own, registered where this
    change was made: if a savepoint around the change rolls back, that op goes with it and the earlier
    op — which the change's write turned into a plain invalidation — is what is sent."""
    ops = _ops(DEFAULT_DB_ALIAS)
    current = None if ops is None else ops.get(key)
    if ops is None or current is None or not current.invalidate or current.replacement is not None:
        return
    data, token, timeout = before
    value = change(serializer.loads(data))
    again = CommitOp(invalidate=True, intent=current.intent, replacement=(serializer.dumps(value), token, timeout))
    ops[key] = again
    transaction.on_commit(_Flush(key, again), using=DEFAULT_DB_ALIAS)
