"""Redis Cluster and Redis Sentinel: reading them from the environment and connecting to them.

Configuration (healthagent/settings.py calls `from_environment`; README "Cluster and Sentinel"):

- `REDIS_CLUSTER_NODES`: seed nodes of a Redis Cluster, comma-separated `host:port`; the client
  discovers the rest. The first entry may be a whole URL (`rediss://user:password@host:port`), whose
  scheme and credentials then apply to every node, as for a single Redis's `REDIS_URL`.
- `REDIS_SENTINELS` (`host:port,...`) with `REDIS_SENTINEL_MASTER`: the primary's name, or
  django-redis's Sentinel LOCATION form `redis[s]://[:password@]<name>/<db>` for the data nodes'
  password, TLS and database. `REDIS_SENTINEL_PASSWORD`: the sentinels' own password, if any.

At most one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS may be set.

Connecting to them: caching/servers/cluster.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url

logger = logging.getLogger(__name__)
SINGLE, CLUSTER, SENTINEL = "single", "cluster", "sentinel"

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
    topology.options["WAIT_REPLICAS"] = _count(environ, "REDIS_WAIT_REPLICAS", 0, minimum=0)
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
    options = {"CONNECTION_FACTORY": "caching.servers.cluster.ClusterConnectionFactory", "CLUSTER_NODES": nodes,
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
        "CONNECTION_POOL_CLASS": "caching.servers.cluster.SentinelBlockingConnectionPool",
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


