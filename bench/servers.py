"""What the benchmark starts and stops besides its database (bench/postgres.py): its Redis database,
gunicorn, the fake FDC and (for the breaker's case) a private redis-server. The Redis database is
flushed only when it is empty or marked as the benchmark's own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
import requests

from tools.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MARKER_KEY = "healthagent-bench:owner"  # set in the Redis database the benchmark owns


class BenchError(RuntimeError):
    """Something the benchmark needs is missing; the message says what to do."""


# --- Redis ----------------------------------------------------------------------------------------
def bench_redis(url: str) -> redis.Redis:
    """A client for the benchmark's Redis database, after checking that it is free to flush."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        raise BenchError(f"Redis does not answer at {redact(url)} ({error}). Start it (e.g. `bash -c "
                         "'source .ci/run && ensure_redis'`) or set BENCH_REDIS_URL.") from None
    if client.dbsize() and not client.exists(MARKER_KEY):
        raise BenchError(f"Redis database {redact(url)} holds keys the benchmark did not write; it would flush "
                         "them. Point BENCH_REDIS_URL at an empty database number.")
    return client


def flush_bench_redis(client: redis.Redis) -> None:
    client.flushdb()
    client.set(MARKER_KEY, "1")


def redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


class PrivateRedis:
    """A redis-server of the benchmark's own (the breaker run stops it mid-run): tools/redis_server.py's
    throwaway server, the one the tests use, on Debian's redis-server."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise BenchError("redis-server is not installed")
        self.workdir = tempfile.mkdtemp(prefix="healthagent-bench-redis-")
        self.server = RedisServer(free_port(), Path(self.workdir), binary=binary)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        try:
            self.server.start()
        except RuntimeError as error:
            raise BenchError(str(error)) from None

    def stop(self) -> None:
        self.server.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- processes ------------------------------------------------------------------------------------
class Process:
    """A child process with a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logdir: Path, *, cwd: Path = ROOT) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_fake_fdc(latency_ms: float, logdir: Path) -> tuple[Process, str]:
    process = Process("fake-fdc", [PYTHON, "-m", "bench.fake_fdc", "--latency-ms", str(latency_ms)],
                      dict(os.environ), logdir)
    line = process.popen.stdout.readline().decode().strip()
    if not line.startswith("listening on "):
        process.stop()
        raise BenchError(f"the fake FDC did not start: {process.log_tail()}")
    return process, line.removeprefix("listening on ")


# What `make serve` and the image run (Makefile, docker/entrypoint.sh): the same arguments, so the same
# worker class, threads, timeouts and logging (healthagent/gunicorn_conf.py). The benchmark adds only
# the environment: PORT (a free one), its own database and Redis, and the settings module that routes
# the floor (bench/settings.py). tests/bench/test_server_config.py holds the three to one another.
SERVE_ARGS = ("healthagent.wsgi", "--config", "python:healthagent.gunicorn_conf")


def gunicorn_command() -> list[str]:
    return [PYTHON, "-m", "gunicorn", *SERVE_ARGS]


def launch_gunicorn(name: str, env: dict[str, str], logdir: Path, *, root: Path = ROOT) -> tuple[Process, str]:
    """Start gunicorn as `make serve` does, on a free port, from the code tree `root` (another tree:
    `--before` of bench/fdc_slow.py and bench/agent_slow.py); `wait_ready` before use."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    for variable in ("WEB_CONCURRENCY", "WEB_THREADS", "GUNICORN_CMD_ARGS"):
        env.pop(variable, None)  # the shipped defaults, not a developer's shell
    return Process(name, gunicorn_command(), env, logdir, cwd=root), f"http://127.0.0.1:{port}"


def serve_tree(name: str, env: dict[str, str], logdir: Path, *, root: Path = ROOT) -> tuple[Process, str]:
    """Migrate the database in `env`, start gunicorn as shipped from `root`, and wait until it answers."""
    manage(env, "migrate", "-v", "0", root=root)
    process, url = launch_gunicorn(name, env, logdir, root=root)
    wait_ready(process, url)
    return process, url


def launch_custom_gunicorn(name: str, env: dict[str, str], logdir: Path, *, workers: int, threads: int) -> tuple[Process, str]:
    """A gunicorn of a shape other than the shipped one (bench/cluster.py, bench/failover.py: their own
    sections say what they ran); `make bench` uses launch_gunicorn."""
    port = free_port()
    command = [PYTHON, "-m", "gunicorn", "healthagent.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", "gthread" if threads > 1 else "sync", "--threads", str(threads),
               "--keep-alive", "30", "--no-control-socket", "--error-logfile", "-"]
    return Process(name, command, env, logdir), f"http://127.0.0.1:{port}"


def worker_report(process: Process, url: str, *, asks: int = 24) -> dict:
    """What gunicorn actually ran, as its workers say it (bench/floor.worker_view: the worker object
    serving the request) and as its master logged it ("Using worker: ..."). gunicorn silently runs
    gthread when it is told sync with threads > 1: the configuration's word is not enough."""
    seen: dict[int, dict] = {}
    for _ in range(asks):  # a new connection each: both workers answer sooner or later
        try:
            answer = requests.get(f"{url}/bench/worker/", timeout=5, headers={"Connection": "close"}).json()
        except (requests.RequestException, ValueError):
            continue
        seen[answer["pid"]] = answer
    logged = [line.split("Using worker:", 1)[1].strip() for line in process.log_path.read_text(errors="replace").splitlines()
              if "Using worker:" in line]
    classes = sorted({w["worker_class"] for w in seen.values()})
    return {"workers_seen": len(seen), "worker_class": classes[0] if len(classes) == 1 else classes,
            "threads": sorted({w["threads"] for w in seen.values()}), "configured_workers": sorted({w["workers"] for w in seen.values()}),
            "timeout_s": sorted({w["timeout"] for w in seen.values()}), "master_logged": logged[-1] if logged else None,
            "pids": sorted(seen)}


def wait_ready(process: Process, url: str) -> None:
    name = process.name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise BenchError(f"gunicorn ({name}) exited: {process.log_tail()}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.stop()
    raise BenchError(f"gunicorn ({name}) did not answer /healthz within 60 s: {process.log_tail()}")


def manage(env: dict[str, str], *args: str, root: Path = ROOT) -> str:
    done = subprocess.run([PYTHON, "manage.py", *args], env=env, cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


# --- the one-off side-by-side scripts (bench/fdc_slow.py, bench/agent_slow.py) ----------------------
WEBHOOK_SECRET = "bench-secret_1"


def webhook_env(database_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    """The environment of a production-settings gunicorn on the given database and Redis (no .env, no
    pytest variables, WARNING logs, no rate limit), plus `settings`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
            "HEALTHAGENT_ENV_FILE": "", "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghij",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING", "BOT_TURNS_PER_MINUTE": "100000",
            **settings}


def post_text(url: str, user: int, text: str, update_id: int, *, timeout: float) -> tuple[float, int, str]:
    """One text message from `user` to the webhook at `url`: (seconds, HTTP status or 0, reply text)."""
    body = {"update_id": update_id, "message": {"message_id": 1, "date": int(time.time()),
            "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": False, "first_name": "B"},
            "text": text}}
    started = time.monotonic()
    try:
        response = requests.post(f"{url}/telegram/webhook/", data=json.dumps(body), timeout=timeout,
                                 headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
        status, reply = response.status_code, (response.json().get("text", "") if response.ok else "")
    except (requests.RequestException, ValueError):
        status, reply = 0, ""
    return time.monotonic() - started, status, reply
