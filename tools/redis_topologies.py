"""Throwaway Redis Cluster and Sentinel sets from the system's redis-server (Debian's package), on
free loopback ports under a directory of their own — for CI (.ci/run) and for tests that fail over.

    python -m tools.redis_topologies start cluster DIR    # 3 primaries + 1 replica each
    python -m tools.redis_topologies start sentinel DIR   # 1 primary, 1 replica, 3 sentinels
    python -m tools.redis_topologies stop DIR

`start` prints the environment that points the service at it (`REDIS_CLUSTER_NODES=...` or
`REDIS_SENTINELS=... REDIS_SENTINEL_MASTER=...`), one `export NAME=value` a line, for `eval`.
In Python: `Cluster.start(path)` / `SentinelSet.start(path)`, `.env`, `.stop()`.

Failover is quick on purpose: cluster-node-timeout and down-after-milliseconds are 1 s (5 s for a
topology started from the command line, which no test fails over), and a full
sync starts at once (repl-diskless-sync-delay 0).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

REDIS_SERVER = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server") or "redis-server"
REDIS_CLI = shutil.which("redis-cli") or "redis-cli"
HOST = "127.0.0.1"
MASTER_NAME = "cachemaster"
NODE_TIMEOUT_MS = 1000
# `start` from the command line (.ci/run's cache tests on a topology): nothing there fails over on
# purpose, and with 1 s a node merely slowed by a loaded machine (CI runs its lanes in parallel) can
# be voted down and failed over under a test that moves a slot.
STEADY_NODE_TIMEOUT_MS = 5000


def _free_port(*, bus: bool = False) -> int:
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if not bus:
            return port
        if port + 10000 < 65536:  # a cluster node also listens on port + 10000 (the cluster bus)
            with socket.socket() as s:
                try:
                    s.bind((HOST, port + 10000))
                except OSError:
                    continue
            return port


def wait_for(what: str, check, seconds: float = 30.0, *, interval: float = 0.1,
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
    kind = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.processes: dict[int, subprocess.Popen | None] = {}  # port -> process

    def _spawn(self, port: int, *args: str, conf: str | None = None) -> None:
        node_dir = self.path / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        command = [REDIS_SERVER]
        if conf is not None:
            (node_dir / "redis.conf").write_text(conf)
            command.append(str(node_dir / "redis.conf"))
        self.commands = getattr(self, "commands", {})
        command += ["--port", str(port), "--bind", HOST, "--dir", str(node_dir), "--save", "", "--appendonly", "no",
                    "--logfile", str(node_dir / "log"), *args]
        if "--sentinel" not in args:
            # A replica that needs a full sync (a primary back after a failover) gets it at once, not
            # after the 5 s Redis 7 waits by default for more replicas to share one diskless transfer.
            command += ["--repl-diskless-sync-delay", "0"]
        self.commands[port] = command
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                start_new_session=True)
        self._save()

    def _save(self) -> None:
        pids = {str(port): p.pid for port, p in self.processes.items() if p is not None}
        (self.path / "pids.json").write_text(json.dumps({"kind": self.kind, "pids": pids, "env": self.env}))

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(HOST, port, socket_timeout=2, socket_connect_timeout=2)

    def kill(self, port: int) -> None:
        """kill -9: no shutdown, no last write to anyone."""
        process = self.processes.get(port)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self.processes[port] = None
        self._save()

    def restart(self, port: int, *, replica_of: int | None = None) -> None:
        """Start a killed node again, with its files (a Cluster node rejoins from its nodes.conf);
        `replica_of`: as a replica of that port, as a deployment that asks its sentinels for the
        primary before it starts a node does (else a sentinel converts it, some 8 seconds later)."""
        command = list(self.commands[port])
        if "--replicaof" in command:
            at = command.index("--replicaof")
            del command[at:at + 3]
        if replica_of is not None:
            command += ["--replicaof", HOST, str(replica_of)]
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, start_new_session=True)
        self._save()

    def stop(self) -> None:
        stop(self.path)

    env: dict[str, str] = {}


class Cluster(_Fleet):
    kind = "cluster"

    @classmethod
    def start(cls, path: Path, *, primaries: int = 3, node_timeout_ms: int = NODE_TIMEOUT_MS) -> Cluster:
        fleet = cls(path)
        fleet.ports = [_free_port(bus=True) for _ in range(primaries * 2)]
        fleet.env = {"REDIS_CLUSTER_NODES": ",".join(f"{HOST}:{port}" for port in fleet.ports[:primaries])}
        for port in fleet.ports:
            fleet._spawn(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", str(node_timeout_ms), "--appendfsync", "no")
        for port in fleet.ports:
            wait_for(f"cluster node {port}", lambda port=port: fleet.client(port).ping())
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

    @classmethod
    def start(cls, path: Path, *, node_timeout_ms: int = NODE_TIMEOUT_MS) -> SentinelSet:
        fleet = cls(path)
        fleet.data_ports = [_free_port(), _free_port()]
        fleet.sentinel_ports = [_free_port() for _ in range(3)]
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
    state_file = Path(path) / "pids.json"
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    for pid in state["pids"].values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    state_file.unlink()


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "start" and argv[1] in {"cluster", "sentinel"}:
        path = Path(argv[2])
        path.mkdir(parents=True, exist_ok=True)
        fleet = (Cluster if argv[1] == "cluster" else SentinelSet).start(path, node_timeout_ms=STEADY_NODE_TIMEOUT_MS)
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
