"""Whether this process may trust Redis with a user's keys right now.

An acknowledged write whose invalidation Redis did not take (caching/consistency/outbox.py) leaves the old value
in Redis. Before a process reads a user-keyed entry, it must know that no such row is pending, or
apply the pending rows itself. That knowledge comes from the database, which every process shares:

- A bot turn learns it from the statement that claims its update (`outbox.pending_sql()` is
  folded into it: no extra round trip) and reports it with `observe()` inside a `scope()`.
- Any other read of a user-keyed entry outside such a block asks the database itself (one EXISTS).

When rows are pending, they are applied first (one pipelined round trip); keys Redis still refuses
stay *untrusted* for the rest of the block: reads of them go to the database and are not cached.
(Writes need no fence: an append to a stale entry is dropped with it when the pending row is
applied, and every reader applies it first.) Namespaces no write of ours changes (`usda`) need
no fence.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from caching.consistency import outbox
from caching.consistency.backend import current_backend
from caching.keys import USDA, namespace_of

_UNFENCED = frozenset({USDA})


class _Scope(threading.local):
    depth = 0  # scope() blocks open on this thread
    checked = False  # observe() ran in the innermost one
    untrusted: set[str] | None = None  # None: every fenced key


_scope = _Scope()


@contextmanager
def scope() -> Iterator[None]:
    """A block (a bot turn) whose reads rely on one check of the outbox, reported by `observe()`.
    Open it around the transaction, so that what runs on commit is covered too."""
    outer = (_scope.depth, _scope.checked, _scope.untrusted)
    _scope.depth += 1
    _scope.checked, _scope.untrusted = False, set()
    try:
        yield
    finally:
        _scope.depth, _scope.checked, _scope.untrusted = outer


def observe(*, pending: bool) -> None:
    """The outbox check for the current scope: if rows are pending, apply them now."""
    _scope.checked = True
    _scope.untrusted = _drain() if pending else set()


def trusts(key: str) -> bool:
    """May this read of `key` use Redis?"""
    if namespace_of(key) in _UNFENCED:
        return True
    if _scope.depth and _scope.checked:
        untrusted = _scope.untrusted
        return untrusted is not None and key not in untrusted
    if not outbox.pending_exists():
        return True
    untrusted = _drain()
    return untrusted is not None and key not in untrusted


def _drain() -> set[str] | None:
    backend = current_backend()
    if backend is None:  # ENABLE_CACHE=false: nothing is read from Redis anyway
        return None
    return outbox.apply_pending(backend)
