"""The benchmark measures what ships: its gunicorn is started exactly as `make serve` and the image
start theirs (one config, healthagent/gunicorn_conf.py), and what actually ran is what that config says."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from bench import servers

ROOT = Path(__file__).resolve().parent.parent.parent


def _args_after_gunicorn(text: str) -> list[str]:
    """The arguments of the one gunicorn command in a Makefile recipe or a shell script."""
    joined = re.sub(r"\\\n\s*", " ", text)
    [line] = [line for line in joined.splitlines() if re.search(r"(^|[\s/])gunicorn\s+healthagent", line)]
    words = shlex.split(line.replace("$(BIN)/", ""))
    return words[words.index("gunicorn") + 1:]


def test_the_bench_starts_gunicorn_with_the_arguments_make_serve_and_the_image_use():
    makefile = (ROOT / "Makefile").read_text()
    serve = makefile[makefile.index("\nserve:"):]
    serve = serve[:serve.index("\n\n")]
    assert _args_after_gunicorn(serve) == list(servers.SERVE_ARGS)
    # The container adds only where its heartbeat files go (docker/entrypoint.sh says why).
    image = _args_after_gunicorn((ROOT / "docker" / "entrypoint.sh").read_text())
    assert image == [*servers.SERVE_ARGS, "--worker-tmp-dir", "/dev/shm"]
    assert servers.gunicorn_command() == [sys.executable, "-m", "gunicorn", *servers.SERVE_ARGS]


def test_the_worker_that_ran_is_the_one_the_config_names(tmp_path):
    """Started by the bench's own launcher, the workers report gthread with the configured threads,
    and the master logged the same: not a sync worker turned into something else behind our back."""
    env = {
        "PATH": os.environ.get("PATH", ""), "HEALTHAGENT_ENV_FILE": "", "DJANGO_DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_COUNTING": "0",
        "DJANGO_SECRET_KEY": "bench-test-secret-key-not-for-production-0123456789abcdef",
        "TELEGRAM_WEBHOOK_SECRET": "bench-test", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "WEB_THREADS": "1",  # dropped by the launcher: the shipped default runs
        **{k: os.environ[k] for k in ("EMBEDDED_REDIS_DIR", "EMBEDDED_REDIS") if k in os.environ},
    }
    config = subprocess.run([sys.executable, "-c", "from healthagent import gunicorn_conf as c; "
                             "print(c.worker_class, c.threads, c.workers)"], cwd=ROOT, capture_output=True, text=True,
                            env={k: v for k, v in env.items() if k != "WEB_THREADS"}, check=True).stdout.split()
    process, url = servers.launch_gunicorn("probe", env, tmp_path)
    try:
        servers.wait_ready(process, url)
        report = servers.worker_report(process, url)
    finally:
        process.stop()
    assert config[0] == "gthread"
    assert report["worker_class"] == "gunicorn.workers.gthread.ThreadWorker"
    assert report["threads"] == [int(config[1])]
    assert report["configured_workers"] == [int(config[2])]
    assert report["master_logged"] == "gthread"
