"""caching/servers/replication.run_scripts after a Cluster failover: a slot map naming a dead primary is read again.

run_scripts sends each node's invalidations down that node's own client (WAIT must follow on the
connection that wrote), past RedisCluster's routing and so past its habit of reading the slot map
again when a node fails. The outbox replay before a breaker's probe goes this way: without the
refresh here, a map naming the killed primary kept every probe on it and the breaker open.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import redis
from redis.cluster import RedisCluster

from caching.servers.replication import run_scripts
from tests.redis_server import free_port

SET = "redis.call('SET', KEYS[1], ARGV[1]); return 1"


class SlotMap(RedisCluster):
    """A RedisCluster's routing only: the node serving every slot, and how often the map was read."""

    def __init__(self, before: redis.Redis, after: redis.Redis) -> None:  # no cluster to discover
        self.primary, self.after, self.reads = before, after, 0
        self.nodes_manager = SimpleNamespace(initialize=self._read_map)

    def _read_map(self) -> None:
        self.reads += 1
        self.primary = self.after  # the promoted replica

    def get_node_from_key(self, key, replica=False):
        return SimpleNamespace(name=str(self.primary.connection_pool.connection_kwargs["port"]))

    def get_redis_connection(self, node):
        return self.primary


@pytest.fixture
def nodes(redis_server):
    live = redis.Redis.from_url(redis_server.url)
    dead = redis.Redis("127.0.0.1", free_port(), socket_connect_timeout=1)
    yield live, dead
    live.close()


def test_a_dead_primary_in_the_slot_map_is_read_again_and_the_calls_go_to_its_successor(nodes):
    live, dead = nodes
    cluster = SlotMap(before=dead, after=live)
    calls = [(SET, ["k:{1}"], ["v1"]), (SET, ["k:{2}"], ["v2"])]

    assert run_scripts(cluster, calls, replicas=0, timeout_ms=100) == [1, 1]
    assert cluster.reads == 1
    assert live.mget("k:{1}", "k:{2}") == [b"v1", b"v2"]


def test_a_slot_map_that_still_names_the_dead_primary_fails_the_call_after_one_more_read(nodes):
    _, dead = nodes
    cluster = SlotMap(before=dead, after=dead)  # the replica is not promoted yet

    with pytest.raises(redis.ConnectionError):
        run_scripts(cluster, [(SET, ["k:{1}"], ["v1"])], replicas=0, timeout_ms=100)
    assert cluster.reads == 1  # the next probe reads it again


def test_a_moved_reply_reads_the_map_again_and_the_call_goes_to_the_new_primary(nodes, redis_server):
    live, _ = nodes
    demoted = SimpleNamespace(  # CLUSTER FAILOVER made the old primary a replica: it answers MOVED
        connection_pool=live.connection_pool,
        pipeline=lambda transaction: _MovedPipeline(),
    )
    cluster = SlotMap(before=demoted, after=live)

    assert run_scripts(cluster, [(SET, ["k:{3}"], ["v3"])], replicas=0, timeout_ms=100) == [1]
    assert cluster.reads == 1
    assert live.get("k:{3}") == b"v3"


def test_a_single_redis_that_is_away_raises_at_once(nodes):
    _, dead = nodes
    with pytest.raises(redis.ConnectionError):
        run_scripts(dead, [(SET, ["k:{1}"], ["v1"])], replicas=0, timeout_ms=100)


class _MovedPipeline:
    def __init__(self) -> None:
        self.commands = 0

    def execute_command(self, *args):
        self.commands += 1

    def execute(self, raise_on_error=True):
        from redis.exceptions import MovedError

        return [MovedError("3 127.0.0.1:7000") for _ in range(self.commands)]
