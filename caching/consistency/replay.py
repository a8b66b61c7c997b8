"""A Redis that may have lost acknowledged invalidations gets them back before anyone reads from it.

Redis can forget what it acknowledged: a machine crash drops the AOF's last second (`appendfsync
everysec`), and a promoted replica lacks what its primary had not sent it yet. A forgotten
invalidation brings the old value — and the old token, so an old fill passes too — back. The
database knows every recent invalidation: each turn's keys on its ProcessedUpdate row (registered
as a source by the conversations app: `SOURCES`) and the outbox rows (caching/consistency/outbox.py),
applied ones kept for REDIS_REPLAY_WINDOW seconds.

So every new connection to the cache's Redis runs `on_connect` (caching/servers/connect_hooks.py)
before its first command. It asks the server which dataset it is: `run_id` (new on every start) and
the replication id (new when a replica is promoted; a Cluster node taking over slots is one). A
dataset this process has not seen is checked for the marker `replayed:<run_id>:<replication id>`:

- marker there: another process replayed into this dataset; use it.
- no marker, the dataset empty: nothing in it can be stale (a fill needs a token minted in it, after
  the write); the record and the marker are written, nothing else.
- no marker, but the database records the dataset as replayed (`ReplayedDataset`): a FLUSHDB or an
  eviction took the marker, not the dataset; the marker is written again, nothing replayed. (Without
  the record, every process meeting the dataset after a flush would replay the window again: correct,
  but every entry warmed in the last minutes would miss.)
- otherwise one process takes the lock (SET NX, with a TTL in case it dies), sends INVALIDATE for
  every key of the last window in batches of BATCH per round trip, and writes the record and the
  marker LAST;
  every other connection meanwhile fails its connect with `ReplayPending`: the guard answers it as a
  bypass (the read goes to the database, nothing is filled), without tripping the breaker.

No command of ours reaches a dataset before this check, because no command runs on a connection
before its connect hook: docs/ARCHITECTURE.md §5.9 has the argument. A replica's connections are
not checked (nothing of ours reads or writes there) but dropped when released, so that a replica
promoted later is reached through a new, checked connection. On a Cluster each node is a dataset of
its own: its keys are the ones of the slots it serves, the marker and lock keys are placed in one
of them.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, transaction
from django.db import connection as db
from django.utils import timezone
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from caching.backend.guard import ReplayPending
from caching.backend.scripts import INVALIDATE
from caching.consistency import outbox
from caching.consistency.backend import ConsistencyBackend, current_backend
from caching.consistency.tokens import INVALIDATED_TOKEN_TTL_MS, new_token, token_key

logger = logging.getLogger(__name__)
BATCH = 500  # keys per round trip
LOCK_TTL_MS = 30_000  # a replayer that dies holds the others off this long
MARKER_TTL_S = 7 * 24 * 3600  # a marker outlives any dataset worth marking; expired, a replay runs again

# source(since): the keys that writes acknowledged since `since` invalidated, besides the outbox's.
# The conversations app registers its turns' keys (caching.api.replay_source).
SOURCES: list[Callable[[datetime], Iterable[str]]] = []

_seen: set[tuple[str, str, int]] = set()  # (run_id, replication id, db) checked by this process
_seen_lock = threading.Lock()


def replay_source(source: Callable[[datetime], Iterable[str]]) -> Callable[[datetime], Iterable[str]]:
    """Register `source(since)` (idempotent): its keys are replayed with the outbox's."""
    if source not in SOURCES:
        SOURCES.append(source)
    return source


def on_connect(connection: Any) -> None:
    """The connect hook: see the module docstring. Raises ReplayPending while another process replays,
    or when the keys to replay cannot be read or sent (the connection is then dropped)."""
    window = outbox.replay_window()
    backend = current_backend()
    if window <= 0 or backend is None:
        return
    if not apps.ready:
        # Start-up (caching's ready() pings Redis) comes before the other apps register their
        # sources: a replay now would miss their keys. This connection is dropped when released; the
        # next one is checked.
        connection.mark_for_reconnect()
        return
    info = _info(connection)
    if info.get("role") not in ("master", "primary"):
        # Nothing of ours uses a replica's connection for data; if it is promoted later, the next
        # connection to it must be checked: this one goes when released (redis-py's pools drop a
        # connection marked so).
        connection.mark_for_reconnect()
        return
    dataset = (info.get("run_id", ""), info.get("master_replid", ""), int(getattr(connection, "db", 0) or 0))
    if dataset in _seen:
        return
    slots = _own_slots(connection) if info.get("cluster_enabled") == "1" else None
    if slots is not None and not slots:
        return  # a Cluster primary serving no slot holds none of our keys
    tag = _tag(slots)
    marker = backend.make_and_validate_key(f"replayed:{tag}:{dataset[0]}:{dataset[1]}")
    lock = backend.make_and_validate_key(f"replaying:{tag}:{dataset[0]}:{dataset[1]}")
    exists, size = _pipeline(connection, [("EXISTS", marker), ("DBSIZE",)])
    if not exists:
        name = f"{dataset[0]}:{dataset[1]}:{dataset[2]}"
        if size and not _recorded(name):
            _replay(connection, backend, lock, slots, window)
        # Last: a process that finds it relies on everything before it.
        _record(name)
        _command(connection, "SET", marker, timezone.now().isoformat(), "EX", MARKER_TTL_S)
    with _seen_lock:
        _seen.add(dataset)


def _replay(connection: Any, backend: ConsistencyBackend, lock: str, slots: set[int] | None, window: int) -> None:
    owner = secrets.token_hex(8)
    if not _command(connection, "SET", lock, owner, "NX", "PX", LOCK_TTL_MS):
        raise ReplayPending("another process is replaying recent invalidations into this Redis")
    try:
        try:
            with _database():
                keys = sorted(recent_keys(timezone.now() - timedelta(seconds=window)))
        except DatabaseError as error:
            # Without them we cannot know what this dataset has lost: it stays unused until they can be read.
            raise ReplayPending(f"the recent invalidations cannot be read ({error})") from None
        make_key = backend.make_and_validate_key
        calls = [(make_key(key), make_key(token_key(key))) for key in keys]
        if slots is not None:
            calls = [call for call in calls if key_slot(call[0].encode()) in slots]
        for batch in _batches(calls, BATCH):
            _pipeline(connection, [("EVAL", INVALIDATE.source, 2, value, token, new_token(), INVALIDATED_TOKEN_TTL_MS)
                                   for value, token in batch])
        logger.warning("Redis at %s is a dataset this process had not seen and may have lost writes: replayed "
                       "%d cache invalidation(s) of the last %d s into it before reading it",
                       _where(connection), len(calls), window)
    finally:
        try:
            _command(connection, "EVAL", _RELEASE, 1, lock, owner)
        except RedisError:
            pass  # the lock's TTL ends it


# What the record's best effort gives up on: the database failing, or no database to be used here — a
# thread running an event loop (SynchronousOnlyOperation), a test that uses none (RuntimeError).
_NO_DATABASE = (DatabaseError, SynchronousOnlyOperation, RuntimeError)


@contextlib.contextmanager
def _database() -> Iterator[None]:
    """The hook may run in a thread that had no database connection (the stats flusher's): it leaves
    the thread as it found it, so no connection stays checked out of the pool."""
    opened_here = db.connection is None
    try:
        yield
    finally:
        if opened_here and not db.in_atomic_block:
            db.close()


def _recorded(name: str) -> bool:
    """Whether the database records this dataset as replayed (its Redis marker was flushed or evicted
    since). Best effort: unreadable, it is not — the replay then runs, as without the record."""
    from caching.models import ReplayedDataset

    try:
        with _database(), transaction.atomic():  # inside a turn, a savepoint: a failure leaves the turn usable
            return ReplayedDataset.objects.filter(pk=name).exists()
    except _NO_DATABASE:
        return False


def _record(name: str) -> None:
    """Record the dataset as replayed (and forget those older than a marker lives). Best effort: a
    record lost (not written, or rolled back with the turn whose connection ran the hook) costs one
    more replay later, never a stale read."""
    from caching.models import ReplayedDataset

    now = timezone.now()
    try:
        with _database(), transaction.atomic():
            ReplayedDataset.objects.bulk_create([ReplayedDataset(dataset=name, replayed_at=now)], ignore_conflicts=True)
            ReplayedDataset.objects.filter(replayed_at__lt=now - timedelta(seconds=MARKER_TTL_S)).delete()
    except _NO_DATABASE:
        logger.debug("could not record the replayed dataset %s", name)


def recent_keys(since: datetime) -> set[str]:
    """Every key an acknowledged write invalidated since `since` (the outbox's and the sources')."""
    keys = outbox.recent_keys(since)
    for source in SOURCES:
        keys.update(source(since))
    return keys


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def _info(connection: Any) -> dict[str, str]:
    raw = _command(connection, "INFO", "server", "replication", "cluster")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def _own_slots(connection: Any) -> set[int]:
    """The slots this Cluster node serves (CLUSTER NODES, its `myself` line; slots being moved in or
    out, in brackets, are left to the node that holds them now)."""
    raw = _command(connection, "CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    slots: set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8 or "myself" not in fields[2].split(","):
            continue
        for entry in fields[8:]:
            if entry.startswith("["):
                continue
            start, _, end = entry.partition("-")
            slots.update(range(int(start), int(end or start) + 1))
    return slots


def _tag(slots: set[int] | None) -> str:
    """A hash tag whose slot this node serves (any on a single Redis), for the marker and the lock."""
    for n in range(100_000):
        tag = f"{{replay-{n}}}"
        if slots is None or key_slot(tag.encode()) in slots:
            return tag
    raise ReplayPending("no hash tag found for this node's slots")


def _command(connection: Any, *args: Any) -> Any:
    connection.send_command(*args, check_health=False)
    return connection.read_response()


def _pipeline(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Send `commands` in one round trip; an error reply raises (after all replies are read)."""
    connection.send_packed_command(connection.pack_commands(commands), check_health=False)
    replies, failed = [], None
    for _ in commands:
        try:
            replies.append(connection.read_response())
        except RedisError as error:
            if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
                raise
            failed = failed or error
            replies.append(error)
    if failed is not None:
        raise failed
    return replies


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _where(connection: Any) -> str:
    host = getattr(connection, "host", None)
    return f"{host}:{getattr(connection, 'port', '')}" if host else str(getattr(connection, "path", "?"))


def forget_seen() -> None:
    """Forget which datasets this process checked (tests: a process that starts now)."""
    with _seen_lock:
        _seen.clear()
