"""The production server as `make serve` and the container run it: gunicorn with the project's config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+( \[[^\]]*\])?: ")
SECRET = "serve-test-secret"


def _get(url: str, **kwargs) -> tuple[int, bytes]:
    request = urllib.request.Request(url, **kwargs)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn (one worker) with DJANGO_DEBUG=false on a migrated SQLite file and collected static files."""
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""), "HEALTHAGENT_ENV_FILE": "", "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "serve-test-secret-key-not-for-production-0123456789abcdef", "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1",
        # The suite's own embedded Redis (make test: .run/test), never the one `make run` uses.
        **{k: os.environ[k] for k in ("EMBEDDED_REDIS_DIR", "EMBEDDED_REDIS") if k in os.environ},
    }
    for command in (["migrate", "--no-input", "-v", "0"], ["collectstatic", "--no-input", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=120)
    log = tmp / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(BIN / "gunicorn"), "healthagent.wsgi", "--config", "python:healthagent.gunicorn_conf"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _get(base + "/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"gunicorn did not come up: {log.read_text()}")
    yield base, log
    process.terminate()
    process.wait(timeout=30)


def test_the_admin_is_styled_with_debug_off(gunicorn):
    base, _ = gunicorn
    status, body = _get(base + "/static/admin/css/base.css")
    assert status == 200 and b"body" in body


def test_the_webhook_answers_with_and_without_the_trailing_slash(gunicorn):
    base, _ = gunicorn
    update = json.dumps({"update_id": 1, "edited_message": {}}).encode()
    for path in ("/telegram/webhook/", "/telegram/webhook"):
        status, body = _get(base + path, data=update, method="POST", headers={
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert (status, json.loads(body)) == (200, {}), path


def test_every_line_has_the_one_format_and_the_favicon_is_no_warning(gunicorn):
    base, log = gunicorn
    assert _get(base + "/favicon.ico")[0] == 204
    assert _get(base + "/no-such-page")[0] == 404
    deadline = time.monotonic() + 10  # the access line is written after the response
    while "/no-such-page" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert [line for line in lines if not LINE.match(line)] == []
    access = [line for line in lines if " gunicorn.access" in line]
    assert any('"GET /favicon.ico HTTP/1.1" 204' in line and " INFO " in line for line in access)
    assert [line for line in lines if "favicon" in line and " WARNING " in line] == []
    assert sum(" gunicorn.error: Booting worker" in line for line in lines) == 1  # WEB_CONCURRENCY=1


def test_gunicorn_and_django_share_the_one_format(settings):
    from healthagent.logging import ServiceFormatter

    assert ServiceFormatter.FORMAT == settings.LOG_FORMAT
