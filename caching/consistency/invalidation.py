"""Sending a transaction's cache changes to Redis once it has committed (docs/ARCHITECTURE.md §5.1, §5.2).

Per key one script: INVALIDATE (drop the value, replace the token), REPLACE_IF_TOKEN (store the
changed value where the token is still the one read with it), APPEND_ROWS (place committed rows
into the cached history) or FILL_IF_TOKEN (a read-through fill riding in the commit's round trip).
All of one transaction's keys go in one pipelined round trip; on Sentinel and Cluster one pipeline
per node, confirmed by a replica where WAIT is asked for (caching/servers/replication.py). What
Redis did not take is reported per key, for the caller to record in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError

from caching.backend import read_ahead, serializer, stats
from caching.backend.scripts import APPEND_ROWS, FILL_IF_TOKEN, INVALIDATE, REPLACE_IF_TOKEN
from caching.consistency.backend import ConsistencyBackend, current_backend
from caching.consistency.tokens import INVALIDATED_TOKEN_TTL_MS, TOKEN_TTL_FACTOR, ms, new_token, token_key
from caching.keys import namespace_of
from caching.servers.cluster import is_cluster
from caching.servers.replication import NotReplicated, run_durable, run_scripts, wait_policy


@dataclass
class CommitOp:
    """What a transaction does to one key on commit (caching/consistency/commit_buffer.py)."""

    invalidate: bool = False
    appended: list[dict] = field(default_factory=list)  # ignored once invalidate is set
    max_items: int = 0
    timeout: int = 0
    intent: bool = False  # an outbox row was written for it inside the transaction
    # (bytes, token, timeout): store these bytes instead of only dropping the value, if the token is
    # unchanged (commit_buffer.replace_on_commit). Any later invalidation in the transaction clears it.
    replacement: tuple[bytes, bytes, int] | None = None
    # (token, bytes, timeout): a read-through fill sent with the commit's round trip instead of one of
    # its own (reads.read_through). Only on an op that does nothing else: any change clears it.
    fill: tuple[bytes, bytes, int] | None = None

    @property
    def fill_only(self) -> bool:
        return self.fill is not None


def invalidate(key: str) -> int | None:
    """Drop `key` and change its token, now; how many values went (0 or 1), or None when Redis did
    not take it (unavailable, or an error reply such as OOM) — the caller records it then
    (caching/consistency/outbox.py). Called on commit (caching.consistency.commit_buffer) and by operators' commands."""
    backend = current_backend()
    if backend is None:
        return 0
    # run_durable: on Sentinel/Cluster, not taken until a replica has it too (caching/servers/replication.py).
    removed = run_durable(backend, INVALIDATE, [key, token_key(key)], [new_token(), INVALIDATED_TOKEN_TTL_MS])
    if removed is None:
        return None
    stats.record(namespace_of(key), stats.DELETE)
    return removed


def append(key: str, items: list[dict], *, max_items: int, timeout: int) -> bool:
    """Add committed rows to the cached list, or drop the entry where they would land out of order.
    False when Redis did not take it (the caller records it in the outbox then)."""
    op = CommitOp(appended=list(items), max_items=max_items, timeout=timeout)
    return apply_ops([(key, op)])[0]


def apply_ops(ops: list[tuple[str, CommitOp]]) -> list[bool]:
    """Send what a transaction scheduled (a CommitOp per key) in one pipelined
    round trip; per key, whether Redis took it (False: the caller records it in the outbox).

    EVALSHA in the pipeline; scripts a restarted Redis no longer has are sent again with EVAL.
    """
    backend = current_backend()
    read_ahead.clear()  # read before the commit: never an answer after it
    if backend is None:
        return [True] * len(ops)
    namespaces = [namespace_of(key) for key, _ in ops]
    calls = [_command(backend, key, op) for key, op in ops]

    def send(client: Any) -> list[Any]:
        replicas, timeout_ms = wait_policy()
        if replicas or is_cluster(client):  # per node, confirmed by a replica (caching/servers/replication.py)
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
                call = calls[i]
                assert call is not None  # only sent calls have answers
                script, keys, args = call
                pipe.eval(script.source, len(keys), *keys, *args)
            for i, answer in zip(missing, pipe.execute(raise_on_error=False)):
                answers[i] = answer
        return answers

    answers = backend.guarded_many(send, namespaces, op="on_commit", default=None)
    if answers is None:  # a fill not sent only costs a hit: never an outbox row
        return [op.fill_only for _, op in ops]
    taken = []
    for (key, op), answer in zip(ops, answers):
        if isinstance(answer, NotReplicated):  # the primary took it, no replica confirmed: not an error
            taken.append(False)  # reply, but not taken either (the caller records it, logged at INFO)
            continue
        if isinstance(answer, Exception):  # an error reply for this key (OOM): recorded by the caller
            backend.record_failure(answer, (namespace_of(key),), "on_commit")
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


def _command(backend: ConsistencyBackend, key: str, op: CommitOp) -> tuple[Any, list[str], list[Any]] | None:
    """(script, Redis keys, args) for one key's op, or None when there is nothing to send."""
    keys = [backend.make_and_validate_key(key), backend.make_and_validate_key(token_key(key))]
    if op.fill is not None:
        token, data, timeout = op.fill
        return FILL_IF_TOKEN, keys, [token, data, ms(timeout), ms(timeout) * TOKEN_TTL_FACTOR]
    if op.invalidate:
        if op.replacement is not None:
            data, token, timeout = op.replacement
            return REPLACE_IF_TOKEN, keys, [token, data, new_token(), ms(timeout),
                                            ms(timeout) * TOKEN_TTL_FACTOR, INVALIDATED_TOKEN_TTL_MS]
        return INVALIDATE, keys, [new_token(), INVALIDATED_TOKEN_TTL_MS]
    if not op.appended:
        return None
    items = op.appended[-op.max_items:]
    rows = [serializer.dumps(item, compress=False) for item in items]
    args: list[Any] = [len(rows), op.max_items, new_token(), ms(op.timeout),
                       ms(op.timeout) * TOKEN_TTL_FACTOR]
    if all(row.startswith(b'{"id":') and row.endswith(b'"}') for row in rows):
        for item, row in zip(items, rows):
            args += [item["id"], item["created_at"], row]
    else:  # not rows the script can place: drop the entry (the token changes too)
        args[0] = 0
    return APPEND_ROWS, keys, args
