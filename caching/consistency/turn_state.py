"""What this thread's bot turn read from Redis, for its writes on commit to start from.

A bot turn reads all of one user's entries in one MGET (`prefetch`: one hash slot, so Cluster-safe)
with the memory's token, and its writes on commit start from what it read: `replace_on_commit`
stores the changed profile under the token read with it (caching/consistency/commit_buffer.py), and
a miss whose token came with the MGET fills in the commit's round trip (caching/consistency/reads.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from caching.backend import read_ahead
from caching.consistency import fence
from caching.consistency.backend import current_backend
from caching.consistency.tokens import token_key
from caching.keys import namespace_of
from caching.servers.cluster import is_cluster


class _Turn(threading.local):
    active = False
    seen: dict[str, tuple[bytes, Any]]  # (bytes, value) of entries the turn read: `replace_on_commit`
    tokens: dict[str, bytes | None]  # tokens read with them, before any load: `replace_on_commit`

    def __init__(self) -> None:
        self.seen, self.tokens = {}, {}


state = _Turn()


@contextmanager
def scope() -> Iterator[None]:
    """A bot turn: open it around the transaction, so that what runs on commit sees what it read."""
    outer = (state.active, state.seen, state.tokens)
    state.active, state.seen, state.tokens = True, {}, {}
    try:
        with read_ahead.scope():
            yield
    finally:
        state.active, state.seen, state.tokens = outer


def prefetch(keys: list[str], *, tokens: tuple[str, ...] = (), others: tuple[str, ...] = ()) -> None:
    """Read `keys` — one user's, one hash slot — and the tokens of `tokens` in one MGET, plus `others`
    (keys of other slots, e.g. a food lookup the turn will make) in the same pipeline: one round trip.
    The turn's reads take their values from it until the commit. Call it after the turn's outbox
    check (caching/consistency/fence.py): keys that check does not trust are left out, and read the
    way it says."""
    backend = current_backend()
    if backend is None or not state.active:
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

    raws = backend.guarded_many(read, namespaces, op="get_many", default=None, write=False)
    if raws is None:  # Redis did not answer: each read finds out for itself (the breaker is counting)
        return
    buffered = read_ahead.values()
    buffered.update(zip(keys, raws))
    state.tokens.update(zip(tokens, raws[len(keys):len(wanted)]))
    buffered.update(zip(others, raws[len(wanted):]))
