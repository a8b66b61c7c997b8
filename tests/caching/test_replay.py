"""The replay of recent invalidations into a Redis dataset a process has not seen
(caching/consistency/replay.py), in one process; tests/fleet/test_replay.py proves it across processes
with a Redis that really lost acknowledged writes.

"A new dataset" is made here the way a process meets one: its connections are dropped, it forgets
which datasets it checked, and the dataset holds no marker. The tests on the configured cache hold on
a single Redis, a Sentinel set and a Cluster (one dataset per primary there); the others start a
Redis of their own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.db import DatabaseError
from django.utils import timezone

from caching.backend import serializer, stats
from caching.consistency import outbox, replay
from caching.keys import user_memory_key
from caching.models import PendingInvalidation, ReplayedDataset
from caching.servers.cluster import is_cluster, node_clients
from conversations.models import ProcessedUpdate

WINDOW = 600


@pytest.fixture(autouse=True)
def _this_process_remembers_what_it_checked():
    """The tests here make the process forget which datasets it checked; the rest of the suite must not
    meet its own Redis as a dataset to check again (tests/conftest.py checks it once, with the database)."""
    seen = set(replay._seen)
    yield
    replay.forget_seen()
    replay._seen.update(seen)


def _as_a_process_that_never_saw_it(backend) -> None:
    client = backend.client.get_client()
    for _, _, node in node_clients(client, primaries_only=True):
        for key in node.scan_iter(match="*:replayed:*"):
            node.delete(key)
    ReplayedDataset.objects.all().delete()
    replay.forget_seen()
    if is_cluster(client):
        client.disconnect_connection_pools()
    else:
        client.connection_pool.disconnect()


def _plant(backend, key: str, value) -> None:
    """An entry Redis holds although an acknowledged write invalidated it: the invalidation was lost."""
    backend.client.get_client().set(backend.make_key(key), serializer.dumps(value))


def _plant_raw(server, backend, key: str, value) -> None:
    """`_plant` past the cache's connections: the dataset stays one the process has not checked."""
    import redis

    with redis.Redis.from_url(server.url) as client:
        client.set(backend.make_key(key), serializer.dumps(value))


def _planted(backend, key: str):
    raw = backend.client.get_client().get(backend.make_key(key))
    return None if raw is None else serializer.loads(raw)


def _replayed_counts(caplog) -> list[int]:
    return [record.args[1] for record in caplog.records
            if record.name == "caching.consistency.replay" and "replayed" in record.getMessage()]


@pytest.mark.django_db(transaction=True)
def test_a_lost_invalidation_is_replayed_before_the_next_turn_reads(bot):
    bot.say("/set weight_kg 70")
    assert "70 kg" in bot.say("/profile")  # cached
    memory = _planted(cache, user_memory_key(42))
    memory["profile"]["weight_kg"] = 40.0
    _plant(cache, user_memory_key(42), memory)  # what Redis holds when it forgot the /set's invalidation
    assert "40 kg" in bot.say("/profile")  # the same process, the same dataset: nothing says it is stale

    _as_a_process_that_never_saw_it(cache)
    assert "70 kg" in bot.say("/profile")


@pytest.mark.django_db(transaction=True)
def test_the_keys_of_the_window_are_replayed_once_each_and_older_ones_are_not(caplog):
    now = timezone.now()
    recent = [user_memory_key(n) for n in range(1, 61)]
    old = user_memory_key(99)
    applied = user_memory_key(100)
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=recent[:30], processed_at=now)
    ProcessedUpdate.objects.create(update_id=2, user_id=2, cache_keys=recent[30:], processed_at=now)
    ProcessedUpdate.objects.create(update_id=3, user_id=3, cache_keys=[old], processed_at=now - timedelta(seconds=WINDOW + 60))
    PendingInvalidation.objects.create(key=applied, applied_at=now)  # an admin's write Redis took
    for key in [*recent, old, applied]:
        _plant(cache, key, {"stale": key})

    _as_a_process_that_never_saw_it(cache)
    with caplog.at_level(logging.WARNING, logger="caching.consistency.replay"):
        assert [cache.get(key) for key in recent] == [None] * len(recent)
        assert cache.get(applied) is None
        assert cache.get(old) == {"stale": old}  # outside the window: not replayed
        # Every primary serving one of these keys replayed its own share, once (a Cluster: one
        # dataset per primary; elsewhere one); no key twice, none left out.
        assert sum(_replayed_counts(caplog)) == len(recent) + 1


@pytest.mark.django_db(transaction=True)
def test_with_the_replay_off_a_lost_invalidation_stays_lost(monkeypatch, settings):
    monkeypatch.setitem(settings.CACHES["default"]["OPTIONS"], "REPLAY_WINDOW", 0)
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=[user_memory_key(1)])
    _plant(cache, user_memory_key(1), {"stale": 1})
    _as_a_process_that_never_saw_it(cache)
    assert cache.get(user_memory_key(1)) == {"stale": 1}


@pytest.fixture
def own_redis(redis_server, use_redis):
    backend = use_redis(redis_server.url)
    replay.forget_seen()
    return backend


@pytest.mark.django_db(transaction=True)
def test_a_dataset_with_the_marker_is_not_replayed_again(own_redis, redis_server, caplog):
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=[user_memory_key(1)])
    _plant_raw(redis_server, own_redis, user_memory_key(1), {"stale": 1})
    with caplog.at_level(logging.WARNING, logger="caching.consistency.replay"):
        assert own_redis.get(user_memory_key(1)) is None
        assert _replayed_counts(caplog) == [1]
        # Another process reaching the same dataset finds the marker, written after the replay.
        _plant(own_redis, user_memory_key(1), {"filled": "after the replay"})
        replay.forget_seen()
        own_redis.client.get_client().connection_pool.disconnect()
        assert own_redis.get(user_memory_key(1)) == {"filled": "after the replay"}
        assert _replayed_counts(caplog) == [1]


@pytest.mark.django_db(transaction=True)
def test_a_dataset_flushed_and_filled_again_is_not_replayed_again(own_redis, redis_server, caplog):
    """FLUSHDB (or an eviction) takes the marker but not the dataset: a process that meets it later
    finds the database's record and replays nothing — every warm entry stays a hit."""
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=[user_memory_key(1)])
    _plant_raw(redis_server, own_redis, user_memory_key(1), {"stale": 1})
    with caplog.at_level(logging.WARNING, logger="caching.consistency.replay"):
        assert own_redis.get(user_memory_key(1)) is None
        assert _replayed_counts(caplog) == [1]
        redis_server.cli("FLUSHDB")
        _plant(own_redis, user_memory_key(1), {"filled": "after the flush"})
        replay.forget_seen()
        own_redis.client.get_client().connection_pool.disconnect()
        assert own_redis.get(user_memory_key(1)) == {"filled": "after the flush"}
        assert _replayed_counts(caplog) == [1]
        assert redis_server.cli("KEYS", "*:replayed:*") != ""  # the marker written again
    # The negative control: without the record, the same process replays the window again.
    ReplayedDataset.objects.all().delete()
    redis_server.cli("FLUSHDB")
    _plant(own_redis, user_memory_key(1), {"filled": "after the flush"})
    replay.forget_seen()
    own_redis.client.get_client().connection_pool.disconnect()
    with caplog.at_level(logging.WARNING, logger="caching.consistency.replay"):
        assert own_redis.get(user_memory_key(1)) is None
        assert _replayed_counts(caplog) == [1, 1]


@pytest.mark.django_db(transaction=True)
def test_while_another_process_replays_reads_bypass_redis_and_the_breaker_stays_closed(own_redis, redis_server):
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=[user_memory_key(1)])
    _plant_raw(redis_server, own_redis, user_memory_key(1), {"stale": 1})
    run_id, replid = (_info_field(redis_server, name) for name in ("run_id", "master_replid"))
    lock = own_redis.make_and_validate_key(f"replaying:{{replay-0}}:{run_id}:{replid}")
    redis_server.cli("SET", lock, "another-process", "PX", "30000")

    with stats.capture() as events:
        assert [own_redis.get(user_memory_key(1)) for _ in range(5)] == [None] * 5
    assert events.count(("user_memory", "bypass")) == 5 and ("user_memory", "error") not in events
    assert own_redis.breaker.state == "closed"
    assert redis_server.cli("GET", lock) == "another-process"  # nobody else replayed meanwhile

    redis_server.cli("DEL", lock)  # that process is done (or its lock expired)
    assert own_redis.get(user_memory_key(1)) is None  # replayed by this one now
    assert own_redis.set(user_memory_key(1), {"fresh": 1}) and own_redis.get(user_memory_key(1)) == {"fresh": 1}


def _info_field(server, name: str) -> str:
    return next(line.split(":", 1)[1] for line in server.cli("INFO").splitlines() if line.startswith(f"{name}:"))


@pytest.mark.django_db(transaction=True)
def test_when_the_database_cannot_say_what_to_replay_the_dataset_stays_unused(own_redis, redis_server, monkeypatch):
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=[user_memory_key(1)])
    _plant_raw(redis_server, own_redis, user_memory_key(1), {"stale": 1})

    def unreadable(since):
        raise DatabaseError("the database is away")

    monkeypatch.setattr(replay, "recent_keys", unreadable)
    with stats.capture() as events:
        assert own_redis.get(user_memory_key(1)) is None
    assert events == [("user_memory", "bypass")]
    assert own_redis.breaker.state == "closed"
    assert redis_server.cli("KEYS", "*replay*") == ""  # the lock released, no marker
    monkeypatch.undo()
    with stats.capture() as events:
        assert own_redis.get(user_memory_key(1)) is None  # replayed now: the entry is gone
    assert events == [("user_memory", "miss")]


def test_an_empty_dataset_is_marked_without_reading_the_database(own_redis, redis_server):
    # No django_db mark: any query here would fail the test.
    assert own_redis.get(user_memory_key(1)) is None
    assert own_redis.set(user_memory_key(1), {"v": 1})
    assert len(redis_server.cli("KEYS", "*:replayed:*").splitlines()) == 1


@pytest.mark.django_db(transaction=True)
def test_keys_go_in_batches_of_500_per_round_trip(own_redis, redis_server, monkeypatch):
    keys = [user_memory_key(n) for n in range(1, 1201)]
    ProcessedUpdate.objects.create(update_id=1, user_id=1, cache_keys=keys)
    _plant_raw(redis_server, own_redis, keys[0], {"stale": 1})
    trips = []
    pipeline = replay._pipeline
    monkeypatch.setattr(replay, "_pipeline", lambda connection, commands: trips.append(len(commands)) or
                        pipeline(connection, commands))
    assert own_redis.get(keys[0]) is None
    assert trips == [2, 500, 500, 200]  # marker and size; then the keys


def test_a_replicas_connections_are_never_written_to_and_are_dropped_when_released(redis_server, use_redis,
                                                                                   tmp_path, connect_attempts):
    from tests.redis_server import RedisServer

    replica_dir = tmp_path / "replica"
    replica_dir.mkdir()
    replica = RedisServer.start_new(replica_dir)
    try:
        replica.cli("REPLICAOF", "127.0.0.1", str(redis_server.port))
        backend = use_redis(replica.url)
        replay.forget_seen()
        for n in (1, 2):
            before = connect_attempts.count
            assert backend.get(user_memory_key(n)) is None
            assert connect_attempts.count > before  # a new, checked connection each time: none is kept
        assert backend.breaker.state == "closed"
        assert redis_server.cli("KEYS", "*replay*") == "" and replica.cli("KEYS", "*replay*") == ""
    finally:
        replica.stop()


@pytest.mark.django_db(transaction=True)
def test_an_applied_outbox_row_is_kept_for_the_window_then_pruned():
    key = user_memory_key(7)
    outbox.add([key])
    assert outbox.pending_exists()
    outbox.clear_applied([key])
    assert not outbox.pending_exists()
    assert outbox.recent_keys(timezone.now() - timedelta(seconds=WINDOW)) == {key}  # replayable
    outbox.add([key])  # written again: pending again
    assert outbox.pending_exists()
    outbox.clear_applied([key])
    PendingInvalidation.objects.update(applied_at=timezone.now() - timedelta(seconds=WINDOW + 1))
    assert outbox.prune() == 1 and not PendingInvalidation.objects.exists()


def test_the_configured_cache_runs_the_connect_hook(settings):
    # The replay rests on redis-py calling the pool's redis_connect_func on every new connection, and
    # on its pools dropping a connection marked for reconnect when released (a replica's).
    from caching.servers import connect_hooks

    options = settings.CACHES["default"]["OPTIONS"]
    if caches["default"].process_local:
        pytest.skip("the in-process fakeredis fallback: one process, its data dies with it")
    assert options["CONNECTION_POOL_KWARGS"]["redis_connect_func"] is connect_hooks.connect
    assert replay.on_connect in connect_hooks.CONNECT_HOOKS


@pytest.mark.skipif(getattr(django_settings, "REDIS_TOPOLOGY", None) is None or django_settings.REDIS_TOPOLOGY.kind != "cluster",
                    reason="a Cluster's nodes change roles; elsewhere a failover changes the address")
def test_a_cluster_node_that_changes_role_is_reached_through_new_connections():
    # Redis keeps a client's connection through a role change, and RedisCluster reuses a node's pool
    # when it reads the slot map again: a node demoted and promoted again would be reached through a
    # connection checked while it held another dataset (caching/servers/cluster.py closes them).
    client = cache.client.get_client()
    cache.ping()
    node = client.get_primaries()[0]
    pool = node.redis_connection.connection_pool
    connection = pool.get_connection()
    pool.release(connection)
    assert connection._sock is not None
    node.server_type = "replica"  # as the client saw it before the node was promoted
    client.nodes_manager.initialize()
    assert connection._sock is None


@pytest.mark.django_db(transaction=True)
def test_wait_stays_an_option_an_invalidation_no_replica_confirms_stays_pending(own_redis, settings, monkeypatch):
    # REDIS_WAIT_REPLICAS=1 (default 0 since the replay): a Redis with no replica never confirms.
    from django.db import transaction

    from caching.api import invalidate_on_commit

    monkeypatch.setitem(settings.CACHES["default"]["OPTIONS"], "WAIT_REPLICAS", 1)
    monkeypatch.setitem(settings.CACHES["default"]["OPTIONS"], "WAIT_TIMEOUT_MS", 10)
    with transaction.atomic():
        invalidate_on_commit(user_memory_key(5))
    assert PendingInvalidation.objects.pending().filter(key=user_memory_key(5)).exists()
    monkeypatch.setitem(settings.CACHES["default"]["OPTIONS"], "WAIT_REPLICAS", 0)
    with transaction.atomic():
        invalidate_on_commit(user_memory_key(6))
    assert not PendingInvalidation.objects.pending().filter(key=user_memory_key(6)).exists()
