"""Redis Cluster and Redis Sentinel: reading them from the environment and connecting to them.

Configuration (healthagent/settings.py calls `from_environment`; README "Cluster and Sentinel"):

- `REDIS_CLUSTER_NODES`: seed nodes of a Redis Cluster, comma-separated `host:port`; the client
  discovers the rest. The first entry may be a whole URL (`rediss://user:password@host:port`), whose
  scheme and credentials then apply to every node, as for a single Redis's `REDIS_URL`.
- `REDIS_SENTINELS` (`host:port,...`) with `REDIS_SENTINEL_MASTER`: the primary's name, or
  django-redis's Sentinel LOCATION form `redis[s]://[:password@]<name>/<db>` for the data nodes'
  password, TLS and database. `REDIS_SENTINEL_PASSWORD`: the sentinels' own password, if any.

At most one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS may be set.

Connecting: Sentinel is django-redis's own `SentinelConnectionFactory`. For Cluster django-redis has
nothing (its issues #208, #710), so `ClusterConnectionFactory` gives it redis-py's `RedisCluster`,
which routes each command by its key's slot and follows MOVED/ASK and failovers itself. Our keys put
each user's entries (values, tokens, locks) in one slot through `{<user id>}`, so every script and
transaction touches one slot; multi-key calls that may span slots (`get_many`) are split per slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django_redis.pool import ConnectionFactory
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import BlockingConnectionPool, parse_url
from redis.sentinel import SentinelConnectionPool
from redis.exceptions import (AskError, ClusterDownError, ClusterError, MovedError, RedisClusterException, RedisError,
                              SlotNotCoveredError, TryAgainError)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .keys import namespace_of

logger = logging.getLogger(__name__)
SINGLE, CLUSTER, SENTINEL = "single", "cluster", "sentinel"

# Raised by RedisCluster when a slot has no reachable primary (after its own retries and a refresh of
# the slot map, e.g. mid-failover): Redis is away for this call, as a ConnectionError is for a single
# Redis, so they feed the breaker (caching/guard.py). A cross-slot script stays a bug and propagates.
CLUSTER_UNAVAILABLE = (ClusterDownError, ClusterError, SlotNotCoveredError)


@dataclass
class Topology:
    kind: str
    location: str  # CACHES LOCATION: the URL django-redis is given
    options: dict[str, Any] = field(default_factory=dict)  # merged into CACHES OPTIONS
    nodes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def replicated(self) -> bool:
        return self.kind != SINGLE


def from_environment(environ: Mapping[str, str]) -> Topology | None:
    """The Cluster or Sentinel configuration, None for a single Redis; ImproperlyConfigured naming
    the variable for a bad value."""
    cluster = environ.get("REDIS_CLUSTER_NODES", "").strip()
    sentinels = environ.get("REDIS_SENTINELS", "").strip()
    given = [name for name, value in (("REDIS_URL", environ.get("REDIS_URL", "").strip()),
                                      ("REDIS_CLUSTER_NODES", cluster), ("REDIS_SENTINELS", sentinels)) if value]
    if len(given) > 1:
        raise ImproperlyConfigured(f"set only one of {', '.join(given)}: they name different Redis deployments")
    if cluster:
        topology = _cluster(cluster)
    elif sentinels:
        topology = _sentinel(sentinels, environ)
    else:
        return None
    topology.options["WAIT_REPLICAS"] = _count(environ, "REDIS_WAIT_REPLICAS", 1, minimum=0)
    topology.options["WAIT_TIMEOUT_MS"] = _count(environ, "REDIS_WAIT_TIMEOUT_MS", 100, minimum=1)
    return topology


def _count(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum}, not {raw!r}")
    return int(raw)


def _cluster(value: str) -> Topology:
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    first = entries[0]
    if "://" in first:
        parts = urlsplit(first)
        if parts.scheme not in {"redis", "rediss"}:
            raise ImproperlyConfigured(
                f"REDIS_CLUSTER_NODES: a URL must start with redis:// or rediss://, not {parts.scheme}://")
        if parts.path.strip("/") not in {"", "0"}:
            raise ImproperlyConfigured("REDIS_CLUSTER_NODES: a Redis Cluster has database 0 only; drop the /"
                                       + parts.path.strip("/"))
        base, entries[0] = parts, _netloc_host(parts, "REDIS_CLUSTER_NODES")
    else:
        base = urlsplit("redis://")
    nodes = [_host_port(entry, "REDIS_CLUSTER_NODES", default_port=6379) for entry in entries]
    auth = base.netloc.rpartition("@")[0]
    host, port = nodes[0]
    location = f"{base.scheme}://{auth + '@' if auth else ''}{_bracket(host)}:{port}/0"
    if base.query:
        location += f"?{base.query}"
    try:
        parse_url(location)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REDIS_CLUSTER_NODES cannot be parsed ({exc})") from None
    options = {"CONNECTION_FACTORY": "caching.topology.ClusterConnectionFactory", "CLUSTER_NODES": nodes,
               "DISPLAY_URL": f"Redis Cluster via {_node_list(nodes)} ({base.scheme}://)"}
    return Topology(CLUSTER, location, options, nodes)


def _sentinel(value: str, environ: Mapping[str, str]) -> Topology:
    nodes = [_host_port(entry.strip(), "REDIS_SENTINELS", default_port=26379)
             for entry in value.split(",") if entry.strip()]
    master = environ.get("REDIS_SENTINEL_MASTER", "").strip()
    if not master:
        raise ImproperlyConfigured("REDIS_SENTINELS is set: set REDIS_SENTINEL_MASTER to the primary's name "
                                   "(as in the sentinels' `sentinel monitor <name> ...`)")
    if "://" not in master:
        master = f"redis://{quote(master, safe='')}/0"
    parts = urlsplit(master)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ImproperlyConfigured("REDIS_SENTINEL_MASTER must be a name or redis[s]://[:password@]<name>/<db>, "
                                   f"not {parts.scheme}://…")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ImproperlyConfigured(f"REDIS_SENTINEL_MASTER: the database number must be an integer, not {db!r}")
    sentinel_kwargs: dict[str, Any] = {}
    if environ.get("REDIS_SENTINEL_PASSWORD", "").strip():
        sentinel_kwargs["password"] = environ["REDIS_SENTINEL_PASSWORD"].strip()
    options: dict[str, Any] = {
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        "CONNECTION_POOL_CLASS": "caching.topology.SentinelBlockingConnectionPool",
        "SENTINELS": nodes,
        "SENTINEL_KWARGS": sentinel_kwargs,
        "DISPLAY_URL": f"Redis Sentinel primary {parts.hostname!r} (db {db or 0}, {parts.scheme}://) "
                       f"via {_node_list(nodes)}",
    }
    if parts.scheme == "rediss":
        # from_url would pick a plain SSLConnection, which connects to the *name* as a host.
        options["SENTINEL_SSL"] = True
    return Topology(SENTINEL, master, options, nodes)


def apply_to(options: dict[str, Any], topology: Topology, *, sentinel_timeouts: tuple[float, float]) -> None:
    """Fit the single-Redis CACHES OPTIONS to `topology` (in place)."""
    options.update(topology.options)
    pool_kwargs = options.setdefault("CONNECTION_POOL_KWARGS", {})
    if topology.kind == SENTINEL:
        if options.pop("SENTINEL_SSL", False):
            from redis.sentinel import SentinelManagedSSLConnection

            pool_kwargs["connection_class"] = SentinelManagedSSLConnection
        connect_timeout, socket_timeout = sentinel_timeouts
        options["SENTINEL_KWARGS"].setdefault("socket_connect_timeout", connect_timeout)
        options["SENTINEL_KWARGS"].setdefault("socket_timeout", socket_timeout)
    if topology.kind == CLUSTER:
        options.pop("CONNECTION_POOL_CLASS", None)  # RedisCluster keeps a (blocking) pool per node itself


def _netloc_host(parts: Any, variable: str) -> str:
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{variable}: the port of {parts.netloc.rpartition('@')[2]!r} is not a number") from None
    if not parts.hostname:
        raise ImproperlyConfigured(f"{variable}: the URL names no host")
    return f"{_bracket(parts.hostname)}:{port or 6379}"


def _host_port(entry: str, variable: str, *, default_port: int) -> tuple[str, int]:
    if "://" in entry or "@" in entry or "/" in entry:
        raise ImproperlyConfigured(f"{variable}: {entry!r} must be host:port (only the first cluster node may be a URL)")
    if entry.startswith("["):  # [IPv6]:port
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    if not host:
        raise ImproperlyConfigured(f"{variable}: {entry!r} names no host")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"{variable}: the port in {entry!r} must be a number from 1 to 65535")
    return host, int(port)


def _node_list(nodes: list[tuple[str, int]]) -> str:
    return ",".join(f"{_bracket(host)}:{port}" for host, port in nodes)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class SentinelBlockingConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's Sentinel pool fails at once when all its connections are busy; like the single
    Redis's pool (settings: BlockingConnectionPool), a burst of threads waits briefly instead."""


# --- Cluster client ----------------------------------------------------------------------------------


class CacheCluster(RedisCluster):
    """RedisCluster for a cache. `mget` may span slots here: it is split per slot (one MGET per
    slot, in parallel pipelines), which a cache's get_many allows — Django promises no atomicity."""

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
        # A blocking pool per node, as for a single Redis: a burst of threads waits briefly for a
        # connection (`timeout`) instead of failing at once.
        params.update(self.pool_cls_kwargs)
        params.setdefault("max_connections", 10)
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


# --- Invalidations a failover cannot lose ------------------------------------------------------------
#
# Replication is asynchronous: an invalidation the primary acknowledged may not have reached its
# replica when the primary dies, and the promoted replica then serves the old value again. So where
# the cache has replicas (Sentinel, Cluster), an invalidation counts as taken only once WAIT says a
# replica has it too; otherwise the caller records it in the outbox (caching/outbox.py) as for a Redis
# that is away, and every reader applies it before trusting Redis (caching/fence.py). WAIT must run
# on the connection that wrote, so each group of scripts and its WAIT go down one pipeline to one node.


class NotReplicated(Exception):
    """A replica did not confirm this write within WAIT_TIMEOUT_MS: it may be lost in a failover."""


def wait_policy() -> tuple[int, int]:
    """(replicas that must confirm an invalidation, milliseconds to wait for them): CACHES OPTIONS
    WAIT_REPLICAS (settings: REDIS_WAIT_REPLICAS) and WAIT_TIMEOUT_MS."""
    from django.conf import settings

    options: Any = settings.CACHES.get("default", {}).get("OPTIONS", {})
    return int(options.get("WAIT_REPLICAS", 0)), int(options.get("WAIT_TIMEOUT_MS", 100))


def run_durable(cache: Any, script: Any, keys: list[str], args: list[Any]) -> Any:
    """`cache.run_script(script, keys, args)` for an invalidation: None (not taken: the caller records
    it in the outbox) also when no replica confirmed it in time."""
    replicas, timeout_ms = wait_policy()
    if not replicas:
        return cache.run_script(script, keys, args)
    rkeys = [cache.make_and_validate_key(key) for key in keys]

    def run(client: Any) -> Any:
        (result,) = run_scripts(client, [(script.source, rkeys, list(args))], replicas=replicas, timeout_ms=timeout_ms)
        if isinstance(result, NotReplicated):
            logger.info("no replica confirmed the invalidation of %s within %d ms: kept for readers to apply",
                        keys[0], timeout_ms)
            return None
        if isinstance(result, Exception):
            raise result  # an error reply (OOM): counted by the guard like any other
        return result

    return cache.guarded(run, namespace=namespace_of(keys[0]), default=None)


def run_scripts(client: Any, calls: list[tuple[str, list[Any], list[Any]]], *, replicas: int,
                timeout_ms: int) -> list[Any]:
    """Run each (Lua source, Redis keys, args) by EVAL, in one pipeline per node (the slot's node on a
    Cluster; each call's keys share a slot). With `replicas`, each pipeline ends with WAIT and its
    results become NotReplicated when fewer replicas confirmed. Error replies are returned per call;
    a connection failure raises (the guard counts it).

    On a Cluster these pipelines go to the node's own client, past RedisCluster's routing, so what
    RedisCluster does after a failed command is done here: a node that cannot be reached, or that
    answers MOVED (a replica now: CLUSTER FAILOVER; a slot resharded away), makes the slot map be read
    again (once) and the calls routed once more. Without it the map keeps naming a dead primary: a
    breaker whose probe first replays the outbox (caching/outbox.py) would probe that node forever and
    never close. While a slot migrates, ASK sends a call to the importing node behind ASKING, and
    TRYAGAIN (the call's keys split between the two nodes) waits briefly; a call still redirected
    after _ATTEMPTS keeps its error reply, which its caller handles as any other (the outbox).
    """
    results: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    asked: dict[int, tuple[str, int]] = {}  # call -> the importing node an ASK named
    refreshed = False
    for _ in range(_ATTEMPTS):
        moved: list[int] = []
        again: list[int] = []
        for target, asking, indexes in _by_node(client, calls, pending, asked):
            try:
                replies = _run_on_node(target, calls, indexes, asking=asking, replicas=replicas,
                                       timeout_ms=timeout_ms)
            except (RedisConnectionError, RedisTimeoutError):
                if refreshed or not is_cluster(client):
                    raise
                moved += indexes
                continue
            for index, reply in zip(indexes, replies):
                results[index] = reply
                asked.pop(index, None)
                if not is_cluster(client):
                    continue
                if isinstance(reply, MovedError):
                    moved.append(index)
                elif isinstance(reply, AskError):
                    asked[index] = (reply.host, reply.port)
                    again.append(index)
                elif isinstance(reply, TryAgainError):
                    again.append(index)
        if moved and not refreshed:
            _refresh_slots(client)
            refreshed = True
            again += moved
        if not again:
            break
        if any(isinstance(results[index], TryAgainError) for index in again):
            time.sleep(_TRY_AGAIN_AFTER)
        pending = sorted(again)
    return results


_ATTEMPTS = 5
_TRY_AGAIN_AFTER = 0.05  # seconds, as RedisCluster waits after TRYAGAIN


def _by_node(client: Any, calls: list[tuple[str, list[Any], list[Any]]], indexes: list[int],
             asked: dict[int, tuple[str, int]]) -> list[tuple[Any, bool, list[int]]]:
    """(node client, whether its calls go behind ASKING, the calls) per node."""
    groups: dict[tuple[str, bool], tuple[Any, list[int]]] = {}
    for index in indexes:
        keys = calls[index][1]
        if is_cluster(client):
            node = client.get_node(*asked[index]) if index in asked else None
            node = node or client.get_node_from_key(keys[0])
            name, target = node.name, client.get_redis_connection(node)
        else:
            name, target = "", client
        groups.setdefault((name, index in asked), (target, []))[1].append(index)
    return [(target, asking, group) for (_, asking), (target, group) in groups.items()]


def _run_on_node(target: Any, calls: list[tuple[str, list[Any], list[Any]]], indexes: list[int], *,
                 asking: bool, replicas: int, timeout_ms: int) -> list[Any]:
    pipe = target.pipeline(transaction=False)
    for index in indexes:
        source, keys, args = calls[index]
        if asking:  # ASKING admits the one command after it
            pipe.execute_command("ASKING")
        pipe.execute_command("EVAL", source, len(keys), *keys, *args)
    if replicas:
        pipe.execute_command("WAIT", replicas, timeout_ms)
    replies = pipe.execute(raise_on_error=False)
    confirmed = not replicas or (isinstance(replies[-1], int) and replies[-1] >= replicas)
    evals = replies[1::2] if asking else replies
    return [reply if confirmed or isinstance(reply, Exception) else NotReplicated(calls[index][1][0])
            for index, reply in zip(indexes, evals)]


def _refresh_slots(client: Any) -> None:
    """Read the slot map again, as RedisCluster does after a command it routed failed. A cluster
    that cannot answer now keeps the old map: the calls then fail as they did, and are counted."""
    try:
        client.nodes_manager.initialize()
    except (RedisError, RedisClusterException) as error:
        logger.debug("could not read the cluster's slot map again: %s", error)
