"""A bounded in-process copy of cached values, served only while Redis cannot answer (ARCHITECTURE.md §5.4).

Without it an outage turns every nutrition lookup into an FDC call, and DEMO_KEY allows 30 an hour.
Only namespaces whose data cannot go stale here are kept: USDA search results are upstream data
that no write of ours changes (their TTL is the only freshness rule, and it is kept here too).
User memory and conversation history are invalidated on commit in Redis — a commit this copy would
never hear about — so they are never served from it.

Every value `get_or_set` computes for such a namespace is copied here, Redis up or not, so the
first minutes of an outage are served too. Values are kept as the serialised bytes Redis would
hold: each reader gets its own copy, as from Redis, and a caller mutating its answer cannot change
the next one. One copy per Redis location per process, like the breaker.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict

from caching.keys import USDA

LOCAL_NAMESPACES = frozenset({USDA})
DEFAULT_MAX_ENTRIES = 1024


class LocalCopy:
    """A thread-safe LRU of `rkey -> serialised value` with per-entry expiry."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max(1, int(max_entries))
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, rkey: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(rkey)
            if entry is None:
                return None
            expires, raw = entry
            if expires is not None and expires <= time.monotonic():
                del self._entries[rkey]
                return None
            self._entries.move_to_end(rkey)
            return raw

    def set(self, rkey: str, raw: bytes, expiry_ms: int | None) -> None:
        """Keep `raw` for `expiry_ms` (None: until evicted; 0 or less: not at all, as in Django)."""
        with self._lock:
            if expiry_ms is not None and expiry_ms <= 0:
                self._entries.pop(rkey, None)
                return
            expires = None if expiry_ms is None else time.monotonic() + expiry_ms / 1000
            self._entries[rkey] = (expires, raw)
            self._entries.move_to_end(rkey)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at fork() time


_copies: dict[str, LocalCopy] = {}
_registry_lock = threading.Lock()


def local_copy_for(location: str, *, max_entries: int) -> LocalCopy:
    """The process-wide copy for one Redis location (Django builds a backend per thread)."""
    with _registry_lock:
        copy = _copies.get(location)
        if copy is None or copy.max_entries != max(1, int(max_entries)):
            copy = _copies[location] = LocalCopy(max_entries)
        return copy


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for copy in _copies.values():
        copy._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
