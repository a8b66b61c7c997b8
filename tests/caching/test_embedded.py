"""The embedded default's server (caching/servers/embedded.py): started once by whoever comes first,
replaced when it died and left its socket behind, stopped on request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from caching.servers import embedded, process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_dir(tmp_path):
    yield tmp_path
    embedded.stop(embedded.socket_path(tmp_path))


def _pid(run_dir: Path) -> int:
    # Beside the socket: under run_dir, or under /tmp where run_dir is too deep for a socket path.
    return int((embedded.socket_path(run_dir).parent / "redis.pid").read_text())


def test_first_caller_starts_it_later_ones_attach(run_dir):
    path = embedded.socket_path(run_dir)
    assert not embedded.answers(path)
    assert embedded.ensure_running(path) is True
    assert embedded.ensure_running(path) is False
    assert embedded.answers(path)


def test_processes_starting_at_once_start_one_server(run_dir):
    command = [sys.executable, "-m", "caching.servers.embedded", "start", "--dir", str(run_dir)]
    starters = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=30)[0] for p in starters]
    assert [p.returncode for p in starters] == [0] * 4
    assert sum("started" in out and "already" not in out for out in outputs) == 1, outputs
    assert embedded.answers(embedded.socket_path(run_dir))


def test_a_server_killed_with_its_socket_left_behind_is_replaced(run_dir):
    path = embedded.socket_path(run_dir)
    embedded.ensure_running(path)
    old = _pid(run_dir)
    os.kill(old, signal.SIGKILL)
    _wait_gone(old)
    assert path.exists() and not embedded.answers(path)  # a stale socket and pid file
    assert embedded.ensure_running(path) is True
    assert _pid(run_dir) != old and embedded.answers(path)


def test_a_connection_starts_the_server_it_finds_missing(run_dir):
    import redis

    pool = redis.ConnectionPool(connection_class=embedded.EmbeddedConnection, path=str(embedded.socket_path(run_dir)))
    client = redis.Redis(connection_pool=pool)
    assert client.ping() is True
    assert embedded.answers(embedded.socket_path(run_dir))
    client.close()


def test_stop_says_whether_it_was_running(run_dir):
    path = embedded.socket_path(run_dir)
    assert embedded.stop(path) is False
    embedded.ensure_running(path)
    assert embedded.stop(path) is True
    assert not embedded.answers(path) and not path.exists()


def test_a_server_slow_to_answer_is_used_not_replaced(run_dir, monkeypatch):
    """On a loaded machine a running server may miss answers()' short wait, before and under the lock:
    it is alive (its pid file says so) and answers a moment later, so the caller uses it. Replacing it
    would unlink its socket and take over its pid file, leaving it running where no stop reaches it."""
    path = embedded.socket_path(run_dir)
    embedded.ensure_running(path)
    first = _pid(run_dir)
    real, calls = embedded.answers, []

    def slow_at_first(socket_path, timeout=0.5):
        calls.append(socket_path)
        return len(calls) > 2 and real(socket_path, timeout)

    monkeypatch.setattr(embedded, "answers", slow_at_first)
    try:
        assert embedded.ensure_running(path) is False
        assert _pid(run_dir) == first and process.alive(first)
    finally:
        if process.alive(first) and _pid(run_dir) != first:  # (the old behaviour: a second server)
            os.kill(first, signal.SIGKILL)


def test_stop_stops_the_server_on_the_socket_when_its_pid_file_is_gone(run_dir):
    path = embedded.socket_path(run_dir)
    embedded.ensure_running(path)
    pid = _pid(run_dir)
    (embedded.socket_path(run_dir).parent / "redis.pid").unlink()
    try:
        assert embedded.stop(path) is True
        assert _wait_gone(pid), "the server still runs, its socket unlinked: nothing can reach or stop it now"
    finally:
        if process.alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_deep_checkout_gets_a_socket_path_unix_can_bind(tmp_path):
    deep = tmp_path / ("d" * 120)
    path = embedded.socket_path(deep)
    assert len(str(path)) <= 100
    assert embedded.socket_path(deep) == path  # the same for every process of that checkout


def _wait_gone(pid: int) -> bool:
    return process.wait_until(lambda: not process.alive(pid), 5.0)
