"""Throwaway Redis Cluster and Sentinel sets from the system's redis-server (Debian's package), on
free loopback ports under a directory of their own — for CI (.ci/run) and for tests that fail over.

    python -m tools.redis_topologies start cluster DIR    # 3 primaries + 1 replica each
    python -m tools.redis_topologies start sentinel DIR   # 1 primary, 1 replica, 3 sentinels
    python -m tools.redis_topologies stop DIR

`start` prints the environment that points the service at it (`REDIS_CLUSTER_NODES=...` or
`REDIS_SENTINELS=... REDIS_SENTINEL_MASTER=...`), one `export NAME=value` a line, for `eval`.
In Python: `Cluster.start(path)` / `SentinelSet.start(path)`, `.env`, `.stop()`. Each node is a
tools/redis_server.py `RedisServer` (so caching/servers/process.py's process manager), in a folder
named after its port with its pid file; nodes a Python process started are stopped when it exits,
unless the command line's `start` leaves them to `stop`.

Failover is quick on purpose: cluster-node-timeout and down-after-milliseconds are 1 s (5 s for a
topology started from the command line, which no test fails over), and a full
sync starts at once (repl-diskless-sync-delay 0).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from caching.servers.process import PIDFILE, ServerProcess
from tools.redis_server import RedisServer, free_port, system_redis_server

REDIS_SERVER = system_redis_server() or "redis-server"
REDIS_CLI = shutil.which("redis-cli") or "redis-cli"
HOST = "127.0.0.1"
MASTER_NAME = "cachemaster"
NODE_TIMEOUT_MS = 1000
# `start` from the command line (.ci/run's cache tests on a topology): nothing there fails over on
# purpose, and with 1 s a node merely slowed by a loaded machine (CI runs its lanes in parallel) can
# be voted down and failed over under a test that moves a slot.
STEADY_NODE_TIMEOUT_MS = 5000


def wait_for(what: str, check: Callable[[], object], seconds: float = 30.0, *, interval: float = 0.1,
             error: type[Exception] = RuntimeError) -> None:
    """Polls `check` (a Redis or socket error counts as not yet) until true; `error` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(interval)
    raise error(f"{what} not ready within {seconds:.0f}s")


class _Fleet:
    """Nodes (tools/redis_server.py's RedisServer, each in a folder named after its port, with its pid
    file: `stop(path)` in another process ends them) and the environment that points the service at them."""

    kind = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.nodes: dict[int, RedisServer] = {}  # port -> node
        self.processes: dict[int, RedisServer | None] = {}  # port -> node, None while killed
        self.env: dict[str, str] = {}

    def _spawn(self, port: int, *args: str, conf: str | None = None) -> None:
        node_dir = self.path / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        if "--sentinel" not in args:
            # A replica that needs a full sync (a primary back after a failover) gets it at once, not
            # after the 5 s Redis 7 waits by default for more replicas to share one diskless transfer.
            args += ("--repl-diskless-sync-delay", "0")
        node = RedisServer(port, node_dir, binary=REDIS_SERVER, args=args, conf=conf, logfile=node_dir / "log")
        self.nodes[port] = node
        # Not waiting for each to answer: the caller waits for the whole set to be healthy.
        node.start(wait=False)
        self.processes[port] = node

    def client(self, port: int) -> Any:  # redis.Redis, whose replies type-check as unions of every shape
        return redis.Redis(HOST, port, socket_timeout=2, socket_connect_timeout=2)

    def kill(self, port: int) -> None:
        """kill -9: no shutdown, no last write to anyone."""
        node = self.processes.get(port)
        if node is not None:
            node.kill()
        self.processes[port] = None

    def restart(self, port: int, *, replica_of: int | None = None) -> None:
        """Start a killed node again, with its files (a Cluster node rejoins from its nodes.conf);
        `replica_of`: as a replica of that port, as a deployment that asks its sentinels for the
        primary before it starts a node does (else a sentinel converts it, some 8 seconds later)."""
        node = self.nodes[port]
        args = list(node.args)
        if "--replicaof" in args:
            at = args.index("--replicaof")
            del args[at:at + 3]
        if replica_of is not None:
            args += ["--replicaof", HOST, str(replica_of)]
        node.args = args
        node.start(wait=False)
        self.processes[port] = node

    def keep_running(self) -> None:
        """Leave the nodes running when this process exits: `stop(path)` (the command line's) ends them."""
        for node in self.nodes.values():
            node.keep_running()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.kill()


class Cluster(_Fleet):
    kind = "cluster"
    ports: list[int]  # primaries first

    @classmethod
    def start(cls, path: Path, *, primaries: int = 3, node_timeout_ms: int = NODE_TIMEOUT_MS) -> Cluster:
        fleet = cls(path)
        fleet.ports = [free_port(bus=True) for _ in range(primaries * 2)]
        fleet.env = {"REDIS_CLUSTER_NODES": ",".join(f"{HOST}:{port}" for port in fleet.ports[:primaries])}
        for port in fleet.ports:
            fleet._spawn(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", str(node_timeout_ms), "--appendfsync", "no")
        for port in fleet.ports:
            wait_for(f"cluster node {port}", fleet.client(port).ping)
        subprocess.run([REDIS_CLI, "--cluster", "create", *[f"{HOST}:{port}" for port in fleet.ports],
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        fleet.wait_healthy()
        return fleet

    def wait_healthy(self, seconds: float = 30.0) -> None:
        """Every live node says the cluster is ok, and every primary has a replica in sync."""
        def healthy() -> bool:
            live = [port for port in self.ports if self.processes.get(port) is not None]
            for port in live:
                if b"cluster_state:ok" not in self.client(port).execute_command("CLUSTER", "INFO"):
                    return False
            for port in self.primaries():
                info = self.client(port).info("replication")
                if not any(isinstance(v, dict) and v.get("state") == "online" for v in info.values()):
                    return False
            return True

        wait_for("cluster", healthy, seconds)

    def primaries(self) -> list[int]:
        live = [port for port in self.ports if self.processes.get(port) is not None]
        return [port for port in live if self.client(port).info("replication").get("role") == "master"]

    def replica_of(self, port: int) -> int | None:
        info = self.client(port).info("replication")
        for value in info.values():
            if isinstance(value, dict) and "port" in value:
                return int(value["port"])
        return None


class SentinelSet(_Fleet):
    kind = "sentinel"
    data_ports: list[int]  # the first primary, its replica
    sentinel_ports: list[int]

    @classmethod
    def start(cls, path: Path, *, node_timeout_ms: int = NODE_TIMEOUT_MS) -> SentinelSet:
        fleet = cls(path)
        fleet.data_ports = [free_port(), free_port()]
        fleet.sentinel_ports = [free_port() for _ in range(3)]
        fleet.env = {"REDIS_SENTINELS": ",".join(f"{HOST}:{port}" for port in fleet.sentinel_ports),
                     "REDIS_SENTINEL_MASTER": MASTER_NAME}
        primary, replica = fleet.data_ports
        fleet._spawn(primary)
        fleet._spawn(replica, "--replicaof", HOST, str(primary))
        for port in fleet.sentinel_ports:
            conf = (f"sentinel monitor {MASTER_NAME} {HOST} {primary} 2\n"
                    f"sentinel down-after-milliseconds {MASTER_NAME} {node_timeout_ms}\n"
                    f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                    f"sentinel parallel-syncs {MASTER_NAME} 1\n")
            # A sentinel rewrites its config file: it must be its own and writable.
            fleet._spawn(port, "--sentinel", conf=conf)
        fleet.wait_healthy()
        return fleet

    def wait_healthy(self, seconds: float = 30.0) -> None:
        """Every sentinel agrees on the primary, sees it up with no failover in progress, and knows the
        replica and both other sentinels; the primary has the replica in sync."""
        def healthy() -> bool:
            primaries = set()
            for port in self.sentinel_ports:
                sentinel = self.client(port)
                primaries.add(tuple(sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)))
                state = sentinel.sentinel_master(MASTER_NAME)
                if state.get("num-other-sentinels") != 2 or state.get("num-slaves", 0) < 1:
                    return False
                # Not down and no failover in progress (its flags would say so). (A sentinel's view of
                # the replica's link is refreshed only every 10 s: the primary's own INFO says it below.)
                if state.get("flags") != "master":
                    return False
            if len(primaries) != 1:
                return False
            (_, port), = primaries
            info = self.client(int(port)).info("replication")
            return info.get("role") == "master" and any(
                isinstance(v, dict) and v.get("state") == "online" for v in info.values())

        wait_for("sentinel set", healthy, seconds)

    def primary(self) -> int:
        host, port = self.client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)


def stop(path: Path) -> None:
    """Kill -9 every node of the topology under `path`, whichever process started it."""
    for pidfile in sorted(Path(path).glob(f"*/{PIDFILE}")):
        node = ServerProcess.from_pidfile(pidfile.parent)
        if node is not None:
            node.kill()


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "start" and argv[1] in {"cluster", "sentinel"}:
        path = Path(argv[2])
        path.mkdir(parents=True, exist_ok=True)
        fleet = (Cluster if argv[1] == "cluster" else SentinelSet).start(path, node_timeout_ms=STEADY_NODE_TIMEOUT_MS)
        fleet.keep_running()
        for name, value in fleet.env.items():
            print(f"export {name}={value}")
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        stop(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
