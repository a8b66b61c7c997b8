"""The one redis-server process manager (caching/servers/process.py): a server a process started and
did not stop ends with that process, so a test run that fails half-way leaves none behind; one it
leaves running on purpose (a topology started from a shell) is found and stopped from its folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from caching.servers.process import ServerProcess, alive
from tools.redis_server import REDIS_SERVER

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.redis_server,
              pytest.mark.skipif(not REDIS_SERVER, reason="no redis-server or valkey-server binary")]

START = """
import sys
from pathlib import Path
from tools.redis_server import RedisServer
server = RedisServer.start_new(Path(sys.argv[1]))
if sys.argv[2] == "keep":
    server.keep_running()
print(server.pid, server.port, flush=True)
"""


def _start_in_a_process(workdir: Path, how: str) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", START, str(workdir), how], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid, port = map(int, done.stdout.split())
    return pid, port


def test_a_server_left_running_by_its_process_is_stopped_when_that_process_exits(tmp_path):
    pid, port = _start_in_a_process(tmp_path, "leave")
    assert not alive(pid)
    assert ServerProcess.from_pidfile(tmp_path) is None


def test_a_server_kept_running_on_purpose_is_stopped_from_its_folder(tmp_path):
    pid, port = _start_in_a_process(tmp_path, "keep")
    try:
        assert alive(pid)
        found = ServerProcess.from_pidfile(tmp_path)
        assert found is not None and found.pid == pid
        found.stop()
        assert not alive(pid)
    finally:
        if alive(pid):
            import os
            import signal

            os.kill(pid, signal.SIGKILL)
