"""The agent-response data set: answers keyed by the versions of the context they were built from.

No answer is ever invalidated. Its key (caching/keys.py: agent_answer_key) carries the version of
every context entry the answer read — user memory, the day's diary, the conversation — so a reader
that computes the key from the *current* versions can only find an answer built from exactly that
context: a change of any of them is a miss, in every process, with no delete to lose. The versions
come from the caller, which reads that context through the cache's fresh reads (or the database).

A reader does not know in advance which entries an answer will read, so it looks up every candidate
key at once (the context-free answer shared by everyone, and the user's own for each subset of
entries it could read), in one round trip.

Single flight: concurrent askers of one question take one lock in Redis (SET NX PX); the holder
computes and stores, the others poll the lock and their candidate keys in one pipelined round trip
(5 ms doubling to 50 ms) until an answer for them lands or the lock is free again (the holder's
answer was its user's own, or it failed: they compute themselves, without queueing behind each
other). When Redis cannot answer there is no cache and no lock: everyone computes.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from caching.backend import serializer, stats
from caching.backend.scripts import RELEASE_LOCK
from caching.consistency.backend import ConsistencyBackend, current_backend
from caching.keys import AGENT
from caching.servers.cluster import is_cluster

FIRST_POLL = 0.005
MAX_POLL = 0.05
_UNAVAILABLE = object()


def _is_answer(value: object) -> bool:
    return type(value) is dict and type(value.get("text")) is str and "\x00" not in value["text"]


def _get_all(backend: ConsistencyBackend, rkeys: list[str], *, lock: tuple[str, str, int] | None = None) -> Any:
    """[raw value per key], and first whether SET lock NX PX took the lock when `lock` is given:
    one round trip (per node on a Cluster, where the keys may live on several)."""
    def read(r: Any) -> list[Any]:
        if is_cluster(r):
            took = [r.set(lock[0], lock[1], nx=True, px=lock[2])] if lock else []
            return [*took, *(r.get(key) for key in rkeys)]
        pipe = r.pipeline(transaction=False)
        if lock:
            pipe.set(lock[0], lock[1], nx=True, px=lock[2])
        for key in rkeys:
            pipe.get(key)
        return pipe.execute()

    return backend.guarded_many(read, (AGENT,), op="get_many", default=_UNAVAILABLE, write=lock is not None)


def _first(backend: ConsistencyBackend, rkeys: list[str], raws: list[Any]) -> dict | None:
    for rkey, raw in zip(rkeys, raws):
        if not isinstance(raw, bytes):
            continue
        try:
            value = serializer.loads(raw)
            if not _is_answer(value):
                raise serializer.RefusedValue("not an agent answer")
        except serializer.RefusedValue as refusal:
            backend.refuse(rkey, AGENT, refusal)
            continue
        return value
    return None


def answer_lookup(keys: list[str]) -> dict | None:
    """The first answer found under `keys` (one round trip), counted as a hit or a miss."""
    backend = current_backend()
    if backend is None or not keys:
        return None
    rkeys = [backend.make_and_validate_key(key) for key in keys]
    raws = _get_all(backend, rkeys)
    if raws is _UNAVAILABLE:
        return None
    found = _first(backend, rkeys, raws)
    stats.record(AGENT, stats.HIT if found is not None else stats.MISS)
    return found


def answer_store(key: str, answer: dict, *, timeout: int) -> None:
    backend = current_backend()
    if backend is None or not _is_answer(answer):
        return
    rkey, data = backend.make_and_validate_key(key), serializer.dumps(answer)
    if backend.guarded(lambda r: r.set(rkey, data, px=int(timeout * 1000)), namespace=AGENT, default=False):
        stats.record(AGENT, stats.SET)


def answer_single_flight(*, flight: str, keys: list[str], compute: Callable[[], tuple[dict, str | None]],
                         timeout: int, wait: float) -> tuple[dict, bool]:
    """(answer, computed here): an answer under `keys` that lands while the holder of `flight`'s lock
    computes, or `compute()` — which returns the answer and the key to store it under (None: not
    to be kept, e.g. the turn wrote something). `wait` bounds the wait (seconds): past it, compute."""
    backend = current_backend()
    if backend is None:
        return compute()[0], True
    lock, token = backend.make_and_validate_key(flight) + ":lock", secrets.token_hex(8)
    rkeys = [backend.make_and_validate_key(key) for key in keys]
    lock_ms = max(1, int(wait * 1000))
    took = backend.guarded(lambda r: r.set(lock, token, nx=True, px=lock_ms), namespace=AGENT, default=_UNAVAILABLE)
    if took is _UNAVAILABLE:
        return _compute_and_store(compute, timeout), True
    if not took:  # someone is computing it: wait for their answer or their lock
        deadline, pause = time.monotonic() + wait, FIRST_POLL
        while time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL)
            answers = _get_all(backend, rkeys, lock=(lock, token, lock_ms))
            if answers is _UNAVAILABLE:
                break
            found = _first(backend, rkeys, answers[1:])
            if found is not None:  # (its lookup counted the miss: one read, one count)
                if answers[0]:
                    backend.run_script(RELEASE_LOCK, [flight + ":lock"], [token], namespace=AGENT)
                return found, False
            if answers[0]:  # free again and nothing for us: the holder's answer was its user's own
                backend.run_script(RELEASE_LOCK, [flight + ":lock"], [token], namespace=AGENT)
                return _compute_and_store(compute, timeout), True
        return _compute_and_store(compute, timeout), True
    try:
        return _compute_and_store(compute, timeout), True
    finally:
        backend.run_script(RELEASE_LOCK, [flight + ":lock"], [token], namespace=AGENT)


def _compute_and_store(compute: Callable[[], tuple[dict, str | None]], timeout: int) -> dict:
    answer, key = compute()
    if key is not None:
        answer_store(key, answer, timeout=timeout)
    return answer


def count_model_call(*, tokens_in: int, tokens_out: int) -> None:
    """One call to the language model and what it cost: the `agent` namespace's own counters."""
    stats.record(AGENT, stats.MODEL_CALL)
    stats.record(AGENT, stats.TOKENS_IN, max(0, int(tokens_in)))
    stats.record(AGENT, stats.TOKENS_OUT, max(0, int(tokens_out)))


def budget_spent(key: str) -> int | None:
    """The tokens counted under `key`, 0 when none; None when Redis cannot say."""
    backend = current_backend()
    if backend is None:
        return None
    rkey = backend.make_and_validate_key(key)
    raw = backend.guarded(lambda r: r.get(rkey), namespace=AGENT, default=_UNAVAILABLE)
    if raw is _UNAVAILABLE:
        return None
    if raw is None:
        return 0
    try:
        return int(raw) if isinstance(raw, (bytes, str, int)) else None
    except ValueError:
        return None


def budget_add(key: str, tokens: int, *, timeout: int) -> None:
    backend = current_backend()
    if backend is None or tokens <= 0:
        return
    rkey = backend.make_and_validate_key(key)

    def add(r: Any) -> Any:
        pipe = r.pipeline(transaction=False)
        pipe.incrby(rkey, int(tokens))
        pipe.expire(rkey, int(timeout))
        return pipe.execute()

    backend.guarded(add, namespace=AGENT)
