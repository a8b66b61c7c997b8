"""Slow upstream calls (USDA FDC, the language model) are made outside a bot turn's transaction.

A turn is one transaction (conversations/updates.py): the claim of its update, its reads, its
writes, COMMIT. A call that can take seconds must not be made inside it: it would hold the
transaction, the claim's row and a pooled database connection for as long as the upstream takes,
and the connections other users' turns need run out first (docs/ARCHITECTURE.md, "Slow upstreams"):
so the call is made with the connection given back to the pool too.

So inside a turn (`deferring()`), code that needs such a call asks `outside(key, call)`: the answer
this update already has under `key`, or `CallOutside` is raised. The turn's transaction rolls back
on it — nothing the turn did is kept, its claim neither, so a redelivery can never see half a
turn — and `attempts` makes the call with no transaction open, keeps its answer (or the
ApplicationError it raised) in the update's memo, and runs the turn again, which finds it there.
The memo lives for one update, across its attempts: with the cache off or Redis down the turn
still makes each upstream call once.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connections

from healthagent.errors import ApplicationError

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A turn that meets more upstream calls than this (8 foods, each maybe spelt again, and the
# model's steps) runs its last attempt with the calls made inside, as before: slower, never wrong.
MAX_ATTEMPTS = 24


class CallOutside(Exception):
    """Raised inside a turn's transaction: `call` must be made outside it (never caught but by
    `attempts`; not an ApplicationError, so no reply-making handler turns it into a reply)."""

    def __init__(self, key: Hashable, call: Callable[[], Any]) -> None:
        super().__init__(f"upstream call outside the transaction: {key!r}")
        self.key, self.call = key, call


class _Failed:
    def __init__(self, error: ApplicationError) -> None:
        self.error = error


_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar("upstream_memo", default=None)
_deferring: contextvars.ContextVar[bool] = contextvars.ContextVar("upstream_deferring", default=False)
_last_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("upstream_last_attempt", default=False)


def deferring() -> bool:
    """Whether an upstream call now would be made inside a turn's transaction (and is deferred)."""
    return _deferring.get() and _memo.get() is not None and not _last_attempt.get()


@contextmanager
def in_transaction() -> Iterator[None]:
    """Around a turn's transaction: the upstream calls it meets are deferred."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)


def kept(key: Hashable) -> bool:
    """Whether this update made the call under `key` already (its answer comes before any cache's)."""
    memo = _memo.get()
    return memo is not None and key in memo


def outside(key: Hashable, call: Callable[[], T]) -> T:
    """`call()`, made outside any turn's transaction: at once when none is open, else the answer
    this update got before (its ApplicationError raised again), else CallOutside."""
    memo = _memo.get()
    if memo is not None and key in memo:
        kept = memo[key]
        if isinstance(kept, _Failed):
            raise kept.error
        return kept
    if not deferring():
        return call()
    raise CallOutside(key, call)


def attempts(turn: Callable[[], T]) -> T:
    """`turn()` (one transaction), run again after each upstream call it needed was made outside
    it. Nested calls (a turn run again for another reason) share the outer update's memo."""
    if _memo.get() is not None:
        return _attempts(turn)
    token = _memo.set({})
    try:
        return _attempts(turn)
    finally:
        _memo.reset(token)


def release_connections() -> None:
    """Give this thread's database connections back before the slow call: out of its transaction, a
    request still holds its pooled connection until the request ends (Django closes it then), and
    the pool's connections, not the worker threads, are what other users' turns run short of. The
    turn's next attempt takes one again (one pool checkout, only on this slow path)."""
    for alias in connections:
        wrapper = connections[alias]
        if wrapper.connection is not None and not wrapper.in_atomic_block:  # in a test's atomic: kept
            wrapper.close()


def _attempts(turn: Callable[[], T]) -> T:
    memo = _memo.get()
    assert memo is not None
    for _ in range(MAX_ATTEMPTS):
        try:
            return turn()
        except CallOutside as needed:
            release_connections()
            try:
                memo[needed.key] = needed.call()
            except ApplicationError as error:
                memo[needed.key] = _Failed(error)
    logger.warning("a turn needed more than %s upstream calls: the rest are made inside its transaction",
                   MAX_ATTEMPTS)
    token = _last_attempt.set(True)
    try:
        return turn()
    finally:
        _last_attempt.reset(token)
