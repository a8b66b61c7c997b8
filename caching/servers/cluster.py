"""Connecting to a Redis Cluster or Sentinel set (configured by caching/servers/config.py).

Connecting: Sentinel is django-redis's own `SentinelConnectionFactory`. For Cluster django-redis has
nothing (its issues #208, #710), so `ClusterConnectionFactory` gives it redis-py's `RedisCluster`,
which routes each command by its key's slot and follows MOVED/ASK and failovers itself. Our keys put
each user's entries (values, tokens, locks) in one slot through `{<user id>}`, so every script and
transaction touches one slot; multi-key calls that may span slots (`get_many`) are split per slot.
"""

from __future__ import annotations

import threading
from typing import Any

from django_redis.pool import ConnectionFactory
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import BlockingConnectionPool
from redis.exceptions import ClusterDownError, ClusterError, SlotNotCoveredError
from redis.sentinel import SentinelConnectionPool

from caching.servers import connect_hooks

# Raised by RedisCluster when a slot has no reachable primary (after its own retries and a refresh of
# the slot map, e.g. mid-failover): Redis is away for this call, as a ConnectionError is for a single
# Redis, so they feed the breaker (caching/backend/guard.py). A cross-slot script stays a bug and propagates.
CLUSTER_UNAVAILABLE = (ClusterDownError, ClusterError, SlotNotCoveredError)


class SentinelBlockingConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's Sentinel pool fails at once when all its connections are busy; like a capped single
    Redis's pool (settings: REDIS_POOL_MAX_SIZE), a burst of threads waits briefly instead."""


class CacheCluster(RedisCluster):
    """RedisCluster for a cache. `mget` may span slots here: it is split per slot (one MGET per
    slot, in parallel pipelines), which a cache's get_many allows — Django promises no atomicity."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.nodes_manager
        read_slot_map = manager.initialize

        def initialize(*a: Any, **kw: Any) -> Any:
            # A node that changed role (a replica promoted, a primary demoted) may hold another dataset
            # next time it is a primary: its connections are closed, so that the next ones pass the
            # connect hooks (caching/servers/connect_hooks.py) — Redis keeps a client's connection open
            # through a role change. RedisCluster reads the slot map again after every MOVED or
            # connection error, which is how it learns of a failover.
            before = {name: node.server_type for name, node in manager.nodes_cache.items()}
            result = read_slot_map(*a, **kw)
            for name, node in manager.nodes_cache.items():
                if before.get(name, node.server_type) != node.server_type and node.redis_connection is not None:
                    node.redis_connection.connection_pool.disconnect()
            return result

        manager.initialize = initialize  # type: ignore[method-assign]

    def mget(self, keys: Any, *args: Any) -> list[Any]:
        return self.mget_nonatomic(keys, *args)

    def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:
        # redis-py sends KEYS to one node; the keys live on all the primaries (SCAN already goes to all).
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        return super().keys(pattern, **kwargs)


class ClusterConnectionFactory(ConnectionFactory):
    """django-redis's connection factory, handing out one RedisCluster per LOCATION per process."""

    _clusters: dict[str, CacheCluster] = {}
    _lock = threading.Lock()

    def connect(self, url: str) -> CacheCluster:
        with self._lock:
            client = self._clusters.get(url)
            if client is None:
                client = self._clusters[url] = self._new_cluster(url)
            return client

    def _new_cluster(self, url: str) -> CacheCluster:
        params = self.make_connection_params(url)  # timeouts, USERNAME/PASSWORD options
        params.pop("parser_class", None)
        params.pop("url", None)
        # A blocking pool per node, as for a capped single Redis: a burst of threads waits briefly for a
        # connection (`timeout`) instead of failing at once.
        params.update(self.pool_cls_kwargs)
        params.setdefault("max_connections", 10)
        if params.get("redis_connect_func") is connect_hooks.connect:
            # RedisCluster runs the connection's own on_connect itself, then this: the hooks only.
            params["redis_connect_func"] = connect_hooks.run
        seeds = [ClusterNode(host, port) for host, port in self.options["CLUSTER_NODES"]]
        return CacheCluster(url=url, startup_nodes=seeds, connection_pool_class=BlockingConnectionPool, **params)

    def disconnect(self, connection: Any) -> None:
        connection.disconnect_connection_pools()


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


def ping(client: Any) -> bool:
    """PING the nodes that serve the cache: on a Cluster every primary (each holds its share of the
    keys), and no replica (no read or write of ours uses one). RedisCluster's own ping asks one node,
    its default, so /healthz said "ok" while another primary — its third of the keys — was down."""
    if is_cluster(client):
        return bool(client.ping(target_nodes=RedisCluster.PRIMARIES))
    return bool(client.ping())


def node_clients(client: Any, *, primaries_only: bool = False) -> list[tuple[str, str, Any]]:
    """(name, role, redis client) for every node of a cluster — or the one Redis otherwise."""
    if not is_cluster(client):
        return [("", "primary", client)]
    nodes = client.get_primaries() if primaries_only else client.get_nodes()
    return [(node.name, node.server_type or "primary", client.get_redis_connection(node))
            for node in sorted(nodes, key=lambda node: node.name)]


