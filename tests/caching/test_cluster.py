"""The cache on a Redis Cluster (issue 12, "everything works on a Cluster"): what spans slots and nodes.

The rest of tests/caching runs on a Cluster too when one is configured (.ci/run's topology lanes:
REDIS_CLUSTER_NODES); these tests are about the Cluster itself — keys on every primary, scripts in one
slot, redirects while a slot moves — and need one: a single Redis has no slots to get wrong.
"""

from __future__ import annotations

import time
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from redis.crc import key_slot

from caching.consistency import outbox
from caching.consistency import invalidation
from caching.backend import scripts
from caching.ops import actions
from caching.backend import stats
from caching.keys import usda_key, user_memory_key
from caching.models import PendingInvalidation
from caching.backend.singleflight import lock_key
from caching.servers.config import CLUSTER
from caching.servers.cluster import node_clients
from caching.servers.replication import wait_policy
from memory.selectors import load_user_memory
from memory.services import profile_ensure, profile_update

pytestmark = pytest.mark.skipif(
    getattr(settings, "REDIS_TOPOLOGY", None) is None or settings.REDIS_TOPOLOGY.kind != CLUSTER,
    reason="needs a Redis Cluster: set REDIS_CLUSTER_NODES (.ci/run's topology lanes starts one)",
)


def _client() -> redis.RedisCluster:
    return cache.client.get_client(write=True)


def _primary_of(key: str) -> str:
    return _client().get_node_from_key(cache.make_and_validate_key(key)).name


def _primaries() -> list[tuple[str, redis.Redis]]:
    return [(name, node) for name, _, node in node_clients(_client(), primaries_only=True)]


def _keys_on_every_primary(make_key, per_primary: int = 2) -> list:
    """Arguments to `make_key` whose keys land on every primary, `per_primary` each."""
    wanted = {name: per_primary for name, _ in _primaries()}
    found = []
    for n in range(1, 10_000):
        name = _primary_of(make_key(n))
        if wanted.get(name):
            wanted[name] -= 1
            found.append(n)
        if not any(wanted.values()):
            return found
    raise AssertionError("no keys for some primaries")


def _all_nodes() -> list:
    """Every node (3 primaries, 1 replica each: tools/redis_topologies.py), once the cluster lists its
    replicas in CLUSTER SLOTS — its gossip takes seconds after the cluster is created, and the client
    read its slot map at start-up — and the client has read that map again."""
    client = _client()
    deadline = time.monotonic() + 30
    while len(client.get_nodes()) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
        client.nodes_manager.initialize()
    return node_clients(client)


def _keys_per_primary() -> dict[str, int]:
    return {name: node.dbsize() for name, node in _primaries()}


def test_the_cluster_refuses_a_script_across_slots():
    """Why the suite passing on a Cluster proves every script touches one slot: Redis would refuse it."""
    a, b = (cache.make_and_validate_key(user_memory_key(n)) for n in (1, 2))
    assert key_slot(a.encode()) != key_slot(b.encode())
    node = _client().get_redis_connection(_client().get_node_from_key(a))
    with pytest.raises(redis.ResponseError, match="slot"):
        node.eval("return redis.call('EXISTS', KEYS[1], KEYS[2])", 2, a, b)


@pytest.mark.django_db(transaction=True)
def test_every_script_the_service_sends_touches_one_slot(bot, monkeypatch):
    """Every EVAL/EVALSHA a conversation, an invalidation, incr and a single flight send: all its keys in
    one slot; and every script of caching/backend/scripts.py was among them."""
    sent: list[tuple] = []
    cluster_command, pipelined = redis.RedisCluster.execute_command, redis.client.Pipeline._execute_pipeline

    def one(self, *args, **options):
        sent.append(args)
        return cluster_command(self, *args, **options)

    def many(self, connection, commands, raise_on_error):
        sent.extend(command[0] for command in commands)
        return pipelined(self, connection, commands, raise_on_error)

    monkeypatch.setattr(redis.RedisCluster, "execute_command", one)
    monkeypatch.setattr(redis.client.Pipeline, "_execute_pipeline", many)
    for text in ("hi", "/set weight_kg 70", "/set weight_kg 71", "how am I doing?", "/forget yes"):
        bot.say(text, user_id=7)
    cache.set("counter", 1)
    cache.incr("counter")
    cache.get_or_set(usda_key("kiwi", 3), lambda: ["kiwi"], timeout=60)

    names = {script.sha: name for name, script in vars(scripts).items() if isinstance(script, scripts.LuaScript)}
    by_source = {script.source: script.sha for script in vars(scripts).values() if isinstance(script, scripts.LuaScript)}
    seen = set()
    for args in sent:
        name = str(args[0]).upper()
        if name not in {"EVAL", "EVALSHA"}:
            continue
        seen.add(names.get(args[1]) or names.get(by_source.get(args[1], "")))
        keys = args[3:3 + int(args[2])]
        assert len({key_slot(key if isinstance(key, bytes) else key.encode()) for key in keys}) == 1, args[:3 + int(args[2])]
    assert seen == set(names.values()), f"not exercised here: {set(names.values()) - seen}"


def test_a_single_flight_lock_shares_its_values_slot():
    for key in (usda_key("kiwi", 3), user_memory_key(5)):
        rkey = cache.make_and_validate_key(key)
        assert key_slot(lock_key(rkey).encode()) == key_slot(rkey.encode())


def test_get_many_set_many_delete_many_span_slots_and_nodes():
    keys = [user_memory_key(n) for n in _keys_on_every_primary(user_memory_key)]
    data = {key: {"n": i} for i, key in enumerate(keys)}
    assert cache.set_many(data) == []
    assert all(count >= 2 for count in _keys_per_primary().values())
    assert cache.get_many([*keys, user_memory_key(99_999)]) == data
    assert cache.delete_many(keys) == len(keys)
    assert cache.get_many(keys) == {}


def test_clear_empties_every_primary():
    cache.set_many({user_memory_key(n): {"n": n} for n in _keys_on_every_primary(user_memory_key)})
    assert all(_keys_per_primary().values())
    assert cache.clear() is True
    assert set(_keys_per_primary().values()) == {0}


def test_invalidate_namespace_and_delete_pattern_scan_every_primary():
    usda = [usda_key(f"food {n}", 5) for n in _keys_on_every_primary(lambda n: usda_key(f"food {n}", 5))]
    cache.set_many({key: [1] for key in usda})
    out = StringIO()
    call_command("cache_invalidate", "--namespace", "usda", stdout=out)
    assert str(len(usda)) in out.getvalue() and cache.get_many(usda) == {}

    users = _keys_on_every_primary(user_memory_key)
    cache.set_many({user_memory_key(n): {"n": n} for n in users})
    assert cache.delete_pattern("user_memory:*") == len(users)
    assert set(_keys_per_primary().values()) == {0}
    assert actions.invalidate_namespace(namespace="user_memory") == 0


def test_the_outbox_replay_sends_one_pipeline_per_node(redis_round_trips):
    users = _keys_on_every_primary(user_memory_key, per_primary=3)
    cache.set_many({user_memory_key(n): {"n": n} for n in users})
    redis_round_trips.clear()
    taken = outbox.send_invalidations(_client(), cache.make_and_validate_key, [user_memory_key(n) for n in users])
    assert taken == [True] * len(users)
    # One pipeline per primary: its INVALIDATEs (and the WAIT that confirms them, with replicas).
    assert len(redis_round_trips) == len(_primaries())
    assert sorted(len(trip) for trip in redis_round_trips) == [3 + (1 if wait_policy()[0] else 0)] * 3
    assert cache.get_many([user_memory_key(n) for n in users]) == {}


def test_cache_stats_shows_every_node():
    cache.set_many({user_memory_key(n): {"n": n} for n in _keys_on_every_primary(user_memory_key)})
    nodes = _all_nodes()
    out = StringIO()
    call_command("cache_stats", stdout=out)
    table = out.getvalue()
    assert len(nodes) == 6  # 3 primaries, 1 replica each (tools/redis_topologies.py)
    rows = [line.split() for line in table.splitlines() if line.split()[:1] in ([name] for name, _, _ in nodes)]
    assert sorted((row[0], row[1]) for row in rows) == sorted((name, role) for name, role, _ in nodes)
    keys = {name: int(row[2]) for name, row in ((row[0], row) for row in rows)}
    assert sum(keys[name] for name, _ in _primaries()) == sum(_keys_per_primary().values())
    assert f"keys in this database   {sum(_keys_per_primary().values())}" in table


def test_the_dashboard_has_one_row_per_node(admin_client):
    html = admin_client.get("/admin/cache/").content.decode()
    for name, _, _ in node_clients(_client()):
        assert f'<tr data-node="{name}">' in html


# --- a slot moving to another primary while the service reads and writes it -----------------------


def _node_id(node: redis.Redis) -> str:
    node_id = node.execute_command("CLUSTER", "MYID")
    return node_id.decode() if isinstance(node_id, bytes) else node_id


@pytest.mark.django_db(transaction=True)
def test_reads_and_writes_follow_a_slot_moved_to_another_primary():
    """CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE, with a user's profile written and
    read between the steps: nothing stale and no exception at any step; the invalidation scripts,
    which go down one node's connection (caching/servers/replication.run_scripts), follow ASK and MOVED.

    Mid-migration Redis answers TRYAGAIN to a two-key script one of whose keys is absent (a fill
    after an invalidation): that invalidation waits in the outbox and the reader goes to the database
    — allowed between the steps, drained once the slot has moved, with no error after the move."""
    user_id = 4242
    key = user_memory_key(user_id)
    profile_ensure(user_id=user_id, name="Ann")
    rkey = cache.make_and_validate_key(key)
    slot = key_slot(rkey.encode())
    client = _client()
    source_name = client.get_node_from_key(rkey).name
    source = dict(_primaries())[source_name]
    target_name, target = next((name, node) for name, node in _primaries() if name != source_name)
    source_id, target_id = _node_id(source), _node_id(target)
    weight = [60]

    def traffic(steps: int = 3) -> None:
        for _ in range(steps):
            weight[0] += 1
            profile_update(user_id=user_id, field="weight_kg", raw_value=str(weight[0]))
            assert load_user_memory(user_id=user_id)["profile"]["weight_kg"] == weight[0]  # never the old one
            fresh = f"plain:{{{user_id}}}:{weight[0]}"  # a key the slot's old node never had: ASK
            cache.set(fresh, weight[0])
            assert cache.get(fresh) == weight[0]

    def errors() -> int:
        return sum(counts["errors"] for counts in stats.local_counts().values())

    traffic()
    cache.set(key, {"profile": {}})  # a value and its token (the fill's), both in the slot
    assert source.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) >= 2
    try:
        target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        traffic()
        host, port = target_name.rsplit(":", 1)
        cache.set(key, {"profile": {}})
        source.execute_command("MIGRATE", host, port, "", 0, 5000, "KEYS",
                               *source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000))
        assert source.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
        # Both keys on the importing node now: the old node answers ASK, the script follows it.
        assert invalidation.invalidate(key) == 1
        traffic()
        for _, node in _primaries():
            node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        before = errors()
        # The first call after the move is a script: its stale slot map gets MOVED, and follows it.
        assert invalidation.invalidate(key) is not None
        assert client.get_node_from_key(rkey).name == target_name
        traffic()
        assert errors() == before and PendingInvalidation.objects.pending().count() == 0
        assert cache.breaker.state == "closed"
        assert target.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) >= 2
    finally:
        _give_back(slot, source, source_id, target, target_id)


def _give_back(slot: int, source: redis.Redis, source_id: str, target: redis.Redis, target_id: str) -> None:
    """Move the slot back to `source` from wherever the test left it, so that the tests after this
    one see the cluster as it was."""
    for node in (source, target):
        node.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
    if _owner(source, slot) == source_id:
        return  # the move never finished: keys it left on the target go with the suite's flush
    source.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", target_id)
    target.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", source_id)
    keys = target.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    if keys:
        kwargs = source.connection_pool.connection_kwargs
        target.execute_command("MIGRATE", kwargs["host"], kwargs["port"], "", 0, 5000, "KEYS", *keys)
    for _, node in _primaries():
        node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", source_id)


def _owner(node: redis.Redis, slot: int) -> str:
    for start, end, primary, *_ in node.execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            node_id = primary[2]
            return node_id.decode() if isinstance(node_id, bytes) else node_id
    raise AssertionError(f"slot {slot} has no owner")


# --- one node away: the primaries still serve, the reports say which node -------------------------


@pytest.mark.django_db
def test_healthz_pings_the_primaries_only(client, monkeypatch):
    """Every primary holds a share of the keys; a replica serves none of our calls."""
    pinged = []
    original = redis.RedisCluster._execute_command

    def recording(self, target_node, *args, **kwargs):
        if args and args[0] == "PING":
            pinged.append(target_node.server_type)
        return original(self, target_node, *args, **kwargs)

    monkeypatch.setattr(redis.RedisCluster, "_execute_command", recording)
    assert client.get("/healthz").json()["cache"] == "ok"
    assert pinged == ["primary"] * len(_primaries())


def test_cache_stats_names_a_node_that_does_not_answer_and_sums_the_others(monkeypatch):
    cache.set_many({user_memory_key(n): {"n": n} for n in _keys_on_every_primary(user_memory_key)})
    replica = next(name for name, role, _ in _all_nodes() if role == "replica")
    host, port = replica.rsplit(":", 1)
    original = redis.Redis.info

    def info(self, *args, **kwargs):
        kwargs_ = self.connection_pool.connection_kwargs
        if (kwargs_.get("host"), str(kwargs_.get("port"))) == (host, port):
            raise redis.ConnectionError("the replica is away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "info", info)
    out = StringIO()
    call_command("cache_stats", stdout=out)
    table = out.getvalue()
    row = next(line.split() for line in table.splitlines() if line.split()[:1] == [replica])
    assert row[1:] == ["replica", "unreachable", "(ConnectionError)"]
    assert f"keys in this database   {sum(_keys_per_primary().values())}" in table
    assert cache.breaker.state == "closed"
