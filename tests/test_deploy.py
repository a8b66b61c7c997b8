"""The deployment files agree with the code: docker-compose.yml, Dockerfile, the entry point, .env.example."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "healthagent" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
ENV_HELPERS = {"env_bool", "env_int", "env_float"}


def _is_os_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", None) == "os"


def settings_env_names() -> set[str]:
    """Names settings.py reads: os.environ.get("X"), os.environ["X"], os.getenv("X"), env_*("X")."""
    names = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        arg = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if (
                (isinstance(func, ast.Name) and func.id in ENV_HELPERS)
                or (isinstance(func, ast.Attribute) and func.attr == "get" and _is_os_environ(func.value))
                or (isinstance(func, ast.Attribute) and func.attr == "getenv" and getattr(func.value, "id", None) == "os")
            ):
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            arg = node.slice
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
    return names


def env_example() -> dict[str, str]:
    pairs = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"listed twice in .env.example: {sorted({n for n in names if names.count(n) > 1})}"
    return dict(pairs)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


# --- .env.example --------------------------------------------------------------------------------
def test_env_example_lists_every_variable_settings_reads():
    read = settings_env_names()
    # Guards the parser itself: a regression that finds nothing would make the next assert vacuous.
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG", "CACHE_TTL_NUTRITION", "USDA_RETRIES"} <= read
    missing = sorted(read - env_example().keys())
    assert missing == [], f"settings.py reads these but .env.example does not list them: {missing}"


def _settings_repr(env: dict[str, str]) -> dict[str, str]:
    """repr() of every public setting, loaded in a fresh interpreter with exactly `env` (plus secrets)."""
    script = (
        "import json, healthagent.settings as s; "
        "print(json.dumps({k: repr(getattr(s, k)) for k in dir(s) if k.isupper() and not k.startswith('_')}))"
    )
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONHASHSEED": "0",
        "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
        "TELEGRAM_WEBHOOK_SECRET": "s",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**env, **base}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_env_example_values_are_the_defaults_of_local_development():
    """Exporting .env.example as it stands (secrets aside) changes no setting beyond what
    DJANGO_DEBUG=true changes: its values are the defaults, set up for a developer."""
    listed = {k: v for k, v in env_example().items() if k not in {"DJANGO_SECRET_KEY", "TELEGRAM_WEBHOOK_SECRET"}}
    assert listed["DJANGO_DEBUG"] == "true"
    assert _settings_repr(listed) == _settings_repr({"DJANGO_DEBUG": "true"})


# --- docker-compose.yml --------------------------------------------------------------------------
def test_redis_service_is_a_bounded_persistent_lru_cache(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    for flag in ("--appendonly yes", "--maxmemory 256mb", "--maxmemory-policy allkeys-lru"):
        assert flag in command
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])


def test_db_service_has_a_readiness_check(compose):
    db = compose["services"]["db"]
    assert re.match(r"postgres:1[6-9]", db["image"])
    assert {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"} <= db["environment"].keys()
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_named_volumes_are_declared_and_used(compose):
    declared = set(compose["volumes"])
    for service, path in (("redis", "/data"), ("db", "/var/lib/postgresql/data")):
        source_by_target = {v.split(":")[1]: v.split(":")[0] for v in compose["services"][service]["volumes"]}
        assert source_by_target.get(path) in declared, f"{service} keeps {path} outside a named volume"


def test_web_waits_for_healthy_backends_and_checks_itself(compose):
    web = compose["services"]["web"]
    assert web["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "db": {"condition": "service_healthy"},
    }
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert "ports" not in web  # the proxy's only (tests/test_front_door.py)
    assert web["restart"] == "unless-stopped"


def test_web_environment_points_at_the_compose_backends(compose):
    env = compose["services"]["web"]["environment"]
    assert re.fullmatch(r"postgres://[^@]+@db:5432/\w+", env["DATABASE_URL"])
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    # ${VAR:?message}: compose refuses to start rather than run with an empty secret.
    assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert env["TELEGRAM_WEBHOOK_SECRET"].startswith("${TELEGRAM_WEBHOOK_SECRET:?")
    # Everything else comes from .env, the same file manage.py and make serve read.
    assert compose["services"]["web"]["env_file"] == "${ENV_FILE:-.env}"
    # The health check requests http://127.0.0.1:8000, so that host must pass ALLOWED_HOSTS.
    assert env["DJANGO_ALLOWED_HOSTS"].endswith(",127.0.0.1")


# --- Dockerfile and entry point ------------------------------------------------------------------
def test_dockerfile_builds_a_slim_non_root_image(dockerfile):
    assert re.search(r"^FROM python:3\.\d+-slim\b", dockerfile, flags=re.MULTILINE)
    assert re.search(r"pip install --no-cache-dir -r requirements\.txt", dockerfile)
    assert "collectstatic --no-input" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0", "0:0"}
    assert re.search(r"^EXPOSE 8000$", dockerfile, flags=re.MULTILINE)


def test_dockerignore_keeps_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    # .run: the embedded server's socket, pid file and log, local state like db.sqlite3.
    assert {".venv", ".git", ".env", "db.sqlite3", ".run", "staticfiles", "bench/results"} <= ignored
    # Development only: the image runs the service, never the tests, benchmarks or tools.
    assert {"tests", "bench", "tools"} <= ignored


@pytest.fixture
def entrypoint(dockerfile, tmp_path):
    """Runs the image's entry point with fake python and gunicorn that log their arguments."""
    target = re.search(r'^ENTRYPOINT \["(/app/[^"]+)"\]', dockerfile, flags=re.MULTILINE).group(1)
    script = ROOT / target.removeprefix("/app/")
    log = tmp_path / "calls.log"
    for name in ("python", "gunicorn"):
        fake = tmp_path / name
        fake.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit "${{FAKE_{name.upper()}_EXIT:-0}}"\n')
        fake.chmod(0o755)

    def run(*args: str, **env: str) -> tuple[int, list[str]]:
        path = f"{tmp_path}:/usr/bin:/bin"
        done = subprocess.run(["sh", str(script), *args], env={"PATH": path, **env}, timeout=30)
        return done.returncode, log.read_text().splitlines() if log.exists() else []

    return run


def test_entrypoint_migrates_then_serves(entrypoint):
    code, calls = entrypoint()
    assert code == 0
    assert calls == [
        "python manage.py migrate --no-input",
        "gunicorn healthagent.wsgi --config python:healthagent.gunicorn_conf --worker-tmp-dir /dev/shm",
    ]


def test_entrypoint_does_not_serve_when_migrations_fail(entrypoint):
    code, calls = entrypoint(FAKE_PYTHON_EXIT="1")
    assert code != 0
    assert calls == ["python manage.py migrate --no-input"]


def test_entrypoint_runs_a_given_command_instead(entrypoint):
    code, calls = entrypoint("python", "manage.py", "cache_stats")
    assert code == 0
    assert calls == ["python manage.py cache_stats"]


# --- .ci/run -------------------------------------------------------------------------------------
def test_ci_script_is_executable_strict_bash():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^set -E?euo pipefail$", text, flags=re.MULTILINE)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


# --- requirements ----------------------------------------------------------------------------------
def _pinned(name: str) -> set[str]:
    lines = (ROOT / name).read_text().splitlines()
    return {line.split("==")[0].lower() for line in lines if "==" in line and not line.startswith("#")}


def test_the_image_and_make_run_install_the_runtime_requirements_only(dockerfile):
    runtime, dev = _pinned("requirements.txt"), _pinned("requirements-dev.txt")
    assert {"django", "gunicorn", "python-dotenv", "prometheus_client"} <= runtime
    assert {"pytest", "playwright", "ruff", "mypy"} <= dev and not runtime & {"pytest", "playwright", "ruff", "mypy"}
    assert not runtime & dev, "pinned in both files"
    assert "requirements-dev" not in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^migrate: install ", makefile, flags=re.MULTILINE)
    assert re.search(r"^run: migrate ", makefile, flags=re.MULTILINE)
    assert re.search(r"^test: install-dev ", makefile, flags=re.MULTILINE)


# --- documentation ---------------------------------------------------------------------------------
# Being rewritten elsewhere; their first lines still cite the old design notes. Remove when fixed.
_KNOWN_OUTSIDE_REFERENCES: set[str] = set()


def test_the_repository_cites_no_document_outside_it():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    citing = sorted(
        name for name in tracked
        if name not in _KNOWN_OUTSIDE_REFERENCES and name != "tests/test_deploy.py" and (ROOT / name).is_file()
        and re.search(r"DESIGN(\.md)? ?§", (ROOT / name).read_text(errors="ignore"))
    )
    assert citing == []


def test_the_documents_the_readme_names_exist():
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`((?:docs/)?[A-Z]+\.md)`", readme))
    assert {"docs/ARCHITECTURE.md", "docs/OPERATIONS.md", "docs/BOT.md", "BENCHMARKS.md"} <= named
    assert [name for name in named if not (ROOT / name).is_file()] == []


def test_compose_gives_the_web_service_every_variable_of_the_env_file(tmp_path):
    """cp .env.example .env, edit two values: `docker-compose config` shows them in the web service."""
    import shutil

    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    text = ENV_EXAMPLE.read_text()
    text = re.sub(r"^DJANGO_SECRET_KEY=.*$", "DJANGO_SECRET_KEY=edited-secret-not-for-production-0123456789abcdefghijklmn", text, flags=re.M)
    text = re.sub(r"^TIME_ZONE=.*$", "TIME_ZONE=Europe/Berlin", text, flags=re.M)
    text = re.sub(r"^TELEGRAM_WEBHOOK_SECRET=.*$", "TELEGRAM_WEBHOOK_SECRET=edited_secret", text, flags=re.M)
    text = re.sub(r"^BOT_DOMAIN=.*$", "BOT_DOMAIN=bot.example.com", text, flags=re.M)
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    env = {"PATH": os.environ.get("PATH", ""), "ENV_FILE": str(env_file)}
    done = subprocess.run(["docker-compose", "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), "config"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    web = yaml.safe_load(done.stdout)["services"]["web"]["environment"]
    assert web["TIME_ZONE"] == "Europe/Berlin" and web["DJANGO_SECRET_KEY"] == "edited-secret-not-for-production-0123456789abcdefghijklmn"
    assert web["CACHE_TTL_NUTRITION"] == "86400" and web["SLOW_QUERY_MS"] == "100"  # not only the edited ones
    assert web["DATABASE_URL"].endswith("@db:5432/healthagent")  # the compose backends still win
    assert web["DJANGO_DEBUG"] == "false"  # whatever the developer default in .env says


def test_worker_and_scheduler_services_run_celery_with_health_checks(compose):
    services = compose["services"]
    worker, scheduler, broker = services["worker"], services["scheduler"], services["broker"]
    assert worker["command"][:4] == ["celery", "-A", "healthagent", "worker"]
    assert scheduler["command"][:4] == ["celery", "-A", "healthagent", "beat"]
    for service in (worker, scheduler):
        assert service["depends_on"]["broker"]["condition"] == "service_healthy"
        assert service["healthcheck"]["test"][0] == "CMD"
    assert "/tmp/healthagent-worker.alive" in " ".join(worker["healthcheck"]["test"])
    assert worker["environment"]["WORKER_HEARTBEAT_FILE"] == "/tmp/healthagent-worker.alive"
    assert "celerybeat-schedule" in " ".join(scheduler["healthcheck"]["test"])
    # The broker never evicts (its queue bindings must stay); the cache's Redis does.
    assert "noeviction" in broker["command"] and "redis-cli ping" in " ".join(broker["healthcheck"]["test"])
    assert services["web"]["environment"]["CELERY_BROKER_URL"] == "redis://broker:6379/0"
