"""Invalidations a failover cannot lose: WAIT for a replica, and the per-node pipelines that need it.

Replication is asynchronous: an invalidation the primary acknowledged may not have reached its
replica when the primary dies, and the promoted replica then serves the old value again. So where
the cache has replicas (Sentinel, Cluster), an invalidation counts as taken only once WAIT says a
replica has it too; otherwise the caller records it in the outbox (caching/consistency/outbox.py) as for a Redis
that is away, and every reader applies it before trusting Redis (caching/consistency/fence.py). WAIT must run
on the connection that wrote, so each group of scripts and its WAIT go down one pipeline to one node.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import AskError, MovedError, RedisClusterException, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from caching.keys import namespace_of
from caching.servers.cluster import is_cluster

logger = logging.getLogger(__name__)


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
    breaker whose probe first replays the outbox (caching/consistency/outbox.py) would probe that node forever and
    never close. While a slot migrates, ASK sends a call to the importing node behind ASKING, and
    TRYAGAIN (the call's keys split between the two nodes) waits briefly; a call still redirected
    after _ATTEMPTS keeps its error reply, which its caller handles as any other (the outbox).
    """
    results: list[Any] = [None] * len(calls)
    unsent = list(range(len(calls)))
    asked: dict[int, tuple[str, int]] = {}  # call -> the importing node an ASK named
    refreshed = False
    for _ in range(_ATTEMPTS):
        moved: list[int] = []
        again: list[int] = []
        for target, asking, indexes in _by_node(client, calls, unsent, asked):
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
        unsent = sorted(again)
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
