"""Code that runs on every new connection to the cache's Redis, before its first command.

redis-py calls a pool's `redis_connect_func` right after the socket connects, in place of the
connection's own `on_connect` (AUTH, SELECT, CLIENT SETINFO): `connect` does that, then each hook;
RedisCluster does its part itself and calls `run` (caching/servers/cluster.py). A hook that raises
a RedisError fails the connect: the connection is dropped and the command that needed it fails as
for a Redis that is away. The cache backend installs `connect` into its pools
(caching/backend/cache.py); the replay of lost invalidations (caching/consistency/replay.py) is the
hook registered at start-up, so that no command reaches a Redis dataset before it was checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# hook(connection): runs once per new connection, after AUTH and SELECT, before any command of ours.
CONNECT_HOOKS: list[Callable[[Any], None]] = []


def run(connection: Any) -> None:
    for hook in CONNECT_HOOKS:
        hook(connection)


def connect(connection: Any) -> None:
    connection.on_connect()
    run(connection)
