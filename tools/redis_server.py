"""A throwaway redis-server on a free loopback port, for the tests, the benchmarks and CI. The process
itself is caching/servers/process.py's `ServerProcess`, the one the embedded default runs; this adds
what a test needs: a free port, a URL, faults (pause, kill, SHUTDOWN) and raw commands.
tools/redis_topologies.py builds its Cluster and Sentinel nodes from it.

    server = RedisServer.start_new(workdir)   # a free port, no persistence (appendonly=True: AOF)
    server.url                         # redis://127.0.0.1:<port>/0
    server.stop(); server.start()      # same port, empty again
    server.shutdown(); server.start()  # SHUTDOWN (AOF flushed), then the same data again
    server.kill(wipe=True)             # kill -9 (and its files gone)
    server.pause(); server.resume()    # SIGSTOP/SIGCONT: connects succeed, replies never come
    server.cli("SET", "k", stdin=b"...")  # a raw command, answered as redis-cli prints it
                                          # (stdin: a binary-safe last argument, like redis-cli -x)

A server that is not stopped is stopped when the Python process that started it exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from caching.servers.embedded import server_binary
from caching.servers.process import LOOPBACK, ServerProcess

# The server binary for tests that start their own: the same Redis the rest of the run uses.
REDIS_SERVER = (
    os.environ.get("TEST_REDIS_SERVER")
    or (shutil.which("redis-server") if os.environ.get("REDIS_URL") else None)
    or server_binary()
    or shutil.which("redis-server")
)


def system_redis_server() -> str | None:
    """The machine's redis-server (Debian's package; TEST_REDIS_SERVER overrides): what the topologies,
    the benchmarks and django-redis's suite run on, for redis-cli and the version they report."""
    return os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")


def free_port(*, bus: bool = False) -> int:
    """A loopback port nothing listens on now; with `bus`, port + 10000 too (a Cluster node's bus)."""
    while True:
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            port: int = s.getsockname()[1]
        if not bus:
            return port
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind((LOOPBACK, port + 10000))
                except OSError:
                    continue
            return port


class RedisServer(ServerProcess):
    def __init__(self, port: int, workdir: Path, *, appendonly: bool = False, binary: str | None = None,
                 args: Sequence[str] = (), conf: str | None = None, logfile: Path | None = None) -> None:
        super().__init__(binary or REDIS_SERVER or "", workdir, port=port, appendonly=appendonly, args=args,
                         conf=conf, logfile=logfile, loglevel=None if logfile else "warning")

    @classmethod
    def start_new(cls, workdir: Path, *, appendonly: bool = False, binary: str | None = None) -> RedisServer:
        server = cls(free_port(), workdir, appendonly=appendonly, binary=binary)
        server.start()
        return server

    @property
    def workdir(self) -> Path:
        return self.directory

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def shutdown(self) -> None:
        """SHUTDOWN, as `docker compose stop` does: the AOF is flushed, the data survives a start()."""
        assert self.process is not None
        self.resume()
        try:
            self.cli("SHUTDOWN")
        except (redis.ConnectionError, ConnectionError):
            pass  # the server closes the connection instead of answering
        self.process.wait(timeout=10)
        self.stop()  # (only forgets it: it has exited)

    def kill(self, *, wipe: bool = False) -> None:
        """kill -9; with `wipe`, its files go too, so the next start() is empty."""
        super().kill()
        if wipe:
            for path in self.directory.iterdir():
                if path.name.startswith(("appendonly", "dump")):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(self.host, self.port, **{"socket_timeout": 2, "socket_connect_timeout": 2, **options})

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
