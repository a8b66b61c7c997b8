"""Which stored bytes already passed a data path's shape check, so a hit on the same bytes skips it.

A cached value is checked before use (`valid`: anyone who can write to Redis can plant one,
ARCHITECTURE.md §5.5). The check is a pure function of the bytes — they are parsed the same way
every time — so once a key's bytes passed it, the same bytes pass again: remembering them turns a
check of every field (tens of microseconds for a user's memory, five foods) into one comparison of
bytes. Different bytes, or another check, are checked afresh. One entry per key (its latest passed
bytes), at most MAX_ENTRIES per process: past that the memory starts again empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_ENTRIES = 2048

_passed: dict[str, tuple[Callable[[Any], bool], bytes]] = {}


def passes(rkey: str, raw: bytes, value: Any, valid: Callable[[Any], bool]) -> bool:
    """valid(value), where `value` is what `raw` (stored at `rkey`) parses to."""
    known = _passed.get(rkey)
    if known is not None and known[0] is valid and known[1] == raw:
        return True
    if not valid(value):
        return False
    if len(_passed) >= MAX_ENTRIES:  # bounded: values are a few KB each
        _passed.clear()
    _passed[rkey] = (valid, raw)
    return True


def clear() -> None:
    _passed.clear()
