"""Cache maintenance that waits for the commit (DESIGN §5.1, §5.2).

Receivers call `invalidate_on_commit` / `append_on_commit`; nothing touches Redis before the
transaction commits, so a concurrent reader can never re-cache a row we are about to change and keep
it past our invalidation. Within one transaction the operations on a key are buffered and sent as
one, however many rows changed (a /forget deleting a thousand messages is one Redis call per key).

The buffer also tells `readthrough` which keys this transaction has dirtied, so that reads inside it
see their own writes and never fill the cache with uncommitted data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@dataclass
class PendingOp:
    invalidate: bool = False
    appended: list[dict] = field(default_factory=list)  # ignored once invalidate is set
    max_items: int = 0
    timeout: int = 0
    seen: tuple[bytes, list[dict]] | None = None  # the cached list as this transaction read it


class _State(threading.local):
    callbacks: Any = None  # the connection's run_on_commit list these ops were registered on
    ops: dict[str, PendingOp]

    def __init__(self) -> None:
        self.ops = {}


_state = _State()


class _Flush:
    """The on-commit callback for one key; it carries its op so the buffer can be rebuilt."""

    def __init__(self, key: str, op: PendingOp) -> None:
        self.key, self.op = key, op

    def __call__(self) -> None:
        from . import readthrough

        if _state.ops.get(self.key) is self.op:
            del _state.ops[self.key]
        if self.op.invalidate:
            readthrough.invalidate(self.key)
        elif self.op.appended:
            readthrough.append(self.key, self.op.appended, max_items=self.op.max_items, timeout=self.op.timeout,
                               seen=self.op.seen)


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
    if op is None:
        op = ops[key] = PendingOp()
        transaction.on_commit(_Flush(key, op), using=using)
    return op


def _enabled() -> bool:
    from django.core.cache import cache

    return getattr(cache, "enabled", False)


def invalidate_on_commit(key: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    if not _enabled():  # ENABLE_CACHE=false: nothing cached, nothing to keep fresh
        return
    ops = _ops(using)
    if ops is None:
        from . import readthrough

        readthrough.invalidate(key)
        return
    _schedule(key, using).invalidate = True


def append_on_commit(key: str, item: dict, *, max_items: int, timeout: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Add `item` (a dict with an increasing "id") to the cached list at `key` once committed."""
    if not _enabled():
        return
    ops = _ops(using)
    if ops is None:
        from . import readthrough

        readthrough.append(key, [item], max_items=max_items, timeout=timeout)
        return
    op = _schedule(key, using)
    op.appended.append(item)
    op.max_items, op.timeout = max_items, timeout


def pending(key: str, *, using: str = DEFAULT_DB_ALIAS) -> PendingOp | None:
    """What this transaction will do to `key` on commit, if anything."""
    if not _state.ops:  # the hot path: nothing buffered on this thread, no connection lookup
        return None
    ops = _ops(using)
    return None if ops is None else ops.get(key)
