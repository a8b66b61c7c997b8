"""Values this thread has already read from Redis, each waiting for the one `get` that wants it.

A caller that knows which keys it is about to read fetches them in one round trip (a bot turn's MGET:
caching/consistency/turn_state.py) and leaves the raw bytes here; the backend's `get` and
`get_or_set` take a key's bytes from here instead of sending a GET of their own. Each value serves
one read: the buffer is emptied before anything is written (the commit), so it never answers
after a write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _ReadAhead(threading.local):
    def __init__(self) -> None:
        self.values: dict[str, bytes | None] = {}  # key (as callers name it) -> raw bytes, None: no value


_local = _ReadAhead()
NOT_READ = object()


def values() -> dict[str, bytes | None]:
    """This thread's buffer, to read or change in place (the turn's own reads use it directly)."""
    return _local.values


def take(key: str) -> bytes | None | object:
    """The raw bytes read ahead for `key` (None: Redis had none), once; or NOT_READ."""
    buffered = _local.values
    if not buffered:
        return NOT_READ
    return buffered.pop(key, NOT_READ)


def clear() -> None:
    _local.values.clear()


@contextmanager
def scope() -> Iterator[None]:
    """A buffer of its own for the block (a bot turn), the outer one back after it."""
    outer = _local.values
    _local.values = {}
    try:
        yield
    finally:
        _local.values = outer
