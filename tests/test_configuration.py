"""One way to configure: the environment, then .env, read by manage.py, wsgi.py and gunicorn alike;
configuration errors in one short line; `make run` / `make serve` as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# A setting as a manage.py command sees it, printed by `manage.py shell` (no database needed on SQLite).
SHOW = "from django.conf import settings as s; print(s.DEBUG, s.NUTRITION_PROVIDER, s.TIME_ZONE, s.CACHE_TTL_NUTRITION)"


def bare_env(**extra: str) -> dict[str, str]:
    """A shell with nothing of healthagent's configured (no .env either, unless `extra` names one)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HEALTHAGENT_ENV_FILE": ""}
    # The suite's own embedded Redis (make test: .run/test), never the one `make run` keeps its cache in.
    env.update({k: os.environ[k] for k in ("EMBEDDED_REDIS_DIR", "EMBEDDED_REDIS") if k in os.environ})
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


# --- .env and the defaults of a bare checkout ----------------------------------------------------
def test_manage_py_reads_the_env_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_SECRET_KEY=from-the-file-secret-not-for-production-0123456789abcdef\nTELEGRAM_WEBHOOK_SECRET=from-file\n"
                        "TIME_ZONE=Europe/Berlin\nCACHE_TTL_NUTRITION=123\nNUTRITION_PROVIDER=usda\n")
    done = manage("shell", "-v", "0", "-c", SHOW, env=bare_env(HEALTHAGENT_ENV_FILE=str(env_file), CACHE_TTL_NUTRITION="77"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "usda", "Europe/Berlin", "77"]


def test_a_bare_checkout_is_local_development_with_the_offline_sample_data():
    done = manage("shell", "-v", "0", "-c", SHOW, env=bare_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "sample", "UTC", "86400"]


def test_a_secret_key_means_configured_so_debug_stays_off():
    done = manage("shell", "-v", "0", "-c", SHOW, env=bare_env(DJANGO_SECRET_KEY="k" * 40 + "abcdefghij", TELEGRAM_WEBHOOK_SECRET="s"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["False", "usda"]


POOL = ("from django.conf import settings as s; o = s.CACHES['default']['OPTIONS']; "
        "k = o['CONNECTION_POOL_KWARGS']; print(o['CONNECTION_POOL_CLASS'], k['max_connections'], k.get('timeout'))")


@pytest.mark.parametrize("extra, expected", [
    # No cap: a thread never waits for another's connection (redis-py's own default cap is 100).
    ({}, ["redis.ConnectionPool", "10000", "None"]),
    ({"REDIS_POOL_MAX_SIZE": "40"}, ["redis.BlockingConnectionPool", "40", "0.5"]),
    ({"REDIS_POOL_MAX_SIZE": "40", "REDIS_POOL_TIMEOUT": "2"}, ["redis.BlockingConnectionPool", "40", "2.0"]),
])
def test_the_redis_pool_waits_only_when_capped(extra, expected):
    env = bare_env(REDIS_URL="redis://127.0.0.1:1/0", **extra)
    done = manage("shell", "-v", "0", "-c", POOL, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == expected


def test_chat_help_works_straight_from_the_venv_python():
    done = manage("chat", "--help", env=bare_env())
    assert done.returncode == 0, done.stderr
    assert "--trace" in done.stdout and "--user" in done.stdout


def test_wsgi_reads_the_env_file_and_refuses_without_a_secret_key(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_SECRET_KEY=from-the-file-secret-not-for-production-0123456789abcdef\nTELEGRAM_WEBHOOK_SECRET=x\n"
                        "TIME_ZONE=Asia/Tokyo\nDJANGO_ALLOWED_HOSTS=bot.example.com\n")
    script = "import healthagent.wsgi; from django.conf import settings; print(settings.TIME_ZONE)"
    done = subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=bare_env(HEALTHAGENT_ENV_FILE=str(env_file)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Asia/Tokyo"

    # The web server gets no debug default: with nothing configured it must not start.
    done = subprocess.run([PYTHON, "-c", "import healthagent.wsgi"], cwd=ROOT, env=bare_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "DJANGO_SECRET_KEY is not set" in done.stderr


# --- configuration errors --------------------------------------------------------------------------
@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("REDIS_URL", "garbage", "REDIS_URL='garbage'"),
    ("TIME_ZONE", "Mars/Olympus", "'Mars/Olympus'"),
    ("DJANGO_DEBUG", "maybe", "'maybe'"),
    ("CACHE_TTL_NUTRITION", "a day", "'a day'"),
    ("DATABASE_URL", "mysql://root:hunter2-secret@db/x", "DATABASE_URL='mysql://root:***@db/x'"),
    ("LOG_LEVEL", "LOUD", "'LOUD'"),
    ("LLM_MODEL", "llama3.1", "only LLM_MODEL is set"),  # the agent needs all three LLM_ variables
    ("LLM_CONCURRENCY", "many", "'many'"),
])
def test_a_configuration_error_is_one_line_naming_the_variable_and_value(variable, value, expected):
    done = manage("migrate", env=bare_env(**{variable: value}))
    assert done.returncode == 4
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("healthagent: configuration error: ")
    assert variable in done.stderr and expected in done.stderr
    assert "hunter2" not in done.stderr


def test_an_unreachable_database_is_named_in_one_line():
    url = f"postgres://postgres:hunter2-secret@127.0.0.1:{free_port()}/healthagent"
    done = manage("migrate", env=bare_env(DATABASE_URL=url))
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1, done.stderr
    assert "DATABASE_URL" in done.stderr and "Connection refused" in done.stderr
    assert "hunter2" not in done.stderr


def test_a_missing_database_is_named_as_such(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/no_such_db_here"
    done = manage("migrate", env=bare_env(DATABASE_URL=url))
    assert done.returncode == 4
    assert 'database "no_such_db_here" does not exist' in done.stderr and "createdb" in done.stderr


# --- make --------------------------------------------------------------------------------------------
def _make_dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", "-W", "requirements.txt", "-W", "requirements-dev.txt", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_passes_args_to_chat():
    assert re.search(r"manage\.py chat --trace --user 2$", _make_dry_run("run", "ARGS=--trace --user 2"), re.MULTILINE)


def test_make_serve_collects_static_files_and_serves_on_host_port_with_workers():
    out = _make_dry_run("serve", "HOST=0.0.0.0", "PORT=9123", "WEB_CONCURRENCY=5")
    assert "manage.py collectstatic --no-input" in out
    assert "HOST=0.0.0.0 PORT=9123 WEB_CONCURRENCY=5" in out
    assert "gunicorn healthagent.wsgi --config python:healthagent.gunicorn_conf" in out
