"""A fleet of its own: a database, a Redis server and several service processes, driven over HTTP.

The cache guarantees are about *other* processes: a write through one worker must not leave a stale
entry that another worker serves. So each test here starts real gunicorn processes (one worker each,
so the harness chooses which process serves a turn) on a database of their own (PostgreSQL when
DATABASE_URL names one, else a SQLite file) and a Redis of their own (tests/redis_server.py: the
embedded default's valkey-server, or redis-server on a real-servers run), injects faults into that
Redis, and checks every answer against what the last acknowledged write said.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SECRET = "fleet-secret_1"
SLOW_TURN = 1.0  # seconds: a turn during a fault slower than this is counted (a figure, not asserted)


def rounds(default: int = 30) -> int:
    return int(os.environ.get("FLEET_ROUNDS") or default)


class FleetDatabase:
    """A database for the fleet alone, migrated; dropped at the end.

    Every fleet's database is a copy of one this process migrated once (a PostgreSQL template, copied
    by CREATE DATABASE … TEMPLATE, or a SQLite file, copied): the same tables and rows `manage.py
    migrate` makes, without a migrate per fleet (a Django start and every migration, each time)."""

    def __init__(self, workdir: Path, *, sqlite: bool = False) -> None:
        base = "" if sqlite else os.environ.get("DATABASE_URL", "")
        if base.startswith(("postgres://", "postgresql://")):
            parts = urlsplit(base)
            self.name = f"fleet_{os.getpid()}_{secrets.token_hex(3)}"
            self.admin_url = urlunsplit(parts._replace(path="/postgres"))
            self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
            template = _postgres_template(parts)
            _psql(self.admin_url, f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
        else:
            self.name = None
            self.url = f"sqlite:///{workdir / 'fleet.sqlite3'}"
            shutil.copyfile(_sqlite_template(), workdir / "fleet.sqlite3")

    def drop(self) -> None:
        if self.name:
            _psql(self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _psql(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


def _migrate(database_url: str) -> None:
    done = manage("migrate", "--no-input", "-v", "0",
                  env=service_env(database_url=database_url, redis_url="redis://127.0.0.1:1/0"))
    assert done.returncode == 0, done.stderr[-2000:]


_templates: dict[str, str] = {}  # this process's migrated templates: "postgres" -> name, "sqlite" -> path


def _postgres_template(parts) -> str:
    """A database migrated once in this process (and dropped when it exits), to copy fleets' from."""
    if "postgres" not in _templates:
        name = f"fleet_template_{os.getpid()}_{secrets.token_hex(3)}"
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        _psql(admin_url, f'CREATE DATABASE "{name}"')
        atexit.register(_psql, admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _migrate(urlunsplit(parts._replace(path=f"/{name}")))  # its connections end with the process
        _templates["postgres"] = name
    return _templates["postgres"]


def _sqlite_template() -> Path:
    if "sqlite" not in _templates:
        directory = Path(tempfile.mkdtemp(prefix="fleet-template-"))
        atexit.register(shutil.rmtree, directory, True)
        _migrate(f"sqlite:///{directory / 'fleet.sqlite3'}")
        _templates["sqlite"] = str(directory / "fleet.sqlite3")
    return Path(_templates["sqlite"])


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python manage.py ARGS` in a process of its own, as an operator runs it from a shell."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def service_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The service's environment; `redis_url=""` is the embedded default (set EMBEDDED_REDIS_DIR)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FLEET_"))}
    env.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "fleet-secret-key-not-for-production-0123456789abcdefgh", "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "NUTRITION_PROVIDER": "sample", "LOG_LEVEL": "WARNING",
        # Production's timeouts and threshold; a short cool-down only so rounds start with a warm cache.
        "REDIS_BREAKER_COOLDOWN": "1",
        # Rounds drive one user many times a minute; the turn rate would answer them "slow down".
        "BOT_TURNS_PER_MINUTE": "100000",
    })
    env.update(extra)
    return env


class Worker:
    """A gunicorn master with `workers` sync workers (default one: the harness then chooses which
    process serves a turn), each restarted by the master if it dies."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path, *, workers: int = 1) -> None:
        self.name = name
        self.port = free_port()
        self.crash_file = workdir / f"crash-{name}"
        self.log = open(workdir / f"worker-{name}.log", "ab")
        self.process = subprocess.Popen(
            [GUNICORN, "tests.fleet.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--timeout", "60", "--graceful-timeout", "2"],
            cwd=ROOT, env={**env, "FLEET_WORKER": name, "FLEET_CRASH_FILE": str(self.crash_file)},
            stdout=self.log, stderr=self.log,
        )
        self.session = requests.Session()
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker {self.name} exited: see {self.log.name}"
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} did not answer /healthz within {timeout}s")

    def breaker(self) -> str:
        return requests.get(f"{self.url}/healthz", timeout=5).json()["breaker"]

    def post(self, update: dict) -> requests.Response:
        return self.session.post(f"{self.url}/telegram/webhook/", data=json.dumps(update), timeout=30,
                                 headers={"Content-Type": "application/json",
                                          "X-Telegram-Bot-Api-Secret-Token": SECRET})

    def stop(self) -> None:
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


_update_ids = itertools.count(int(time.time()) % 100_000 * 1000)


def update(user_id: int, text: str, update_id: int | None = None) -> dict:
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": user_id, "type": "private"},
                    "from": {"id": user_id, "is_bot": False, "first_name": "Fleet"}, "text": text},
    }


@dataclass
class Expected:
    """What the last acknowledged writes of one user said; what every later read must show."""

    weight: int | None = None
    note: str | None = None
    last_text: str | None = None  # the user's previous message: the next /history must show it


@dataclass
class Tally:
    turns: int = 0
    failed: list = field(default_factory=list)  # (worker, text, status or error)
    slow: list = field(default_factory=list)  # (worker, text, seconds) during a fault, over SLOW_TURN
    slowest_during_fault: float = 0.0  # seconds
    stale: list = field(default_factory=list)  # (kind, worker, round, expected, reply excerpt)
    reads: dict = field(default_factory=lambda: {"profile": 0, "prefs": 0, "history": 0})


class Driver:
    """Sends one user's turns to chosen workers in sequence and checks each answer."""

    READS = ("profile", "prefs", "history")

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.sequence = itertools.count()

    def turn(self, worker: Worker, user_id: int, text: str, *, during_fault: bool = False,
             update_id: int | None = None) -> str | None:
        body = update(user_id, text, update_id)
        started = time.monotonic()
        try:
            response = worker.post(body)
        except requests.RequestException as error:
            self.tally.failed.append((worker.name, text, type(error).__name__))
            return None
        elapsed = time.monotonic() - started
        self.tally.turns += 1
        if during_fault:
            self.tally.slowest_during_fault = max(self.tally.slowest_during_fault, elapsed)
            if elapsed > SLOW_TURN:
                self.tally.slow.append((worker.name, text, round(elapsed, 3)))
        if response.status_code != 200:
            self.tally.failed.append((worker.name, text, response.status_code))
            return None
        return response.json().get("text", "")

    def write(self, worker: Worker, user_id: int, expected: Expected, *, weight: int | None = None,
              note: str | None = None, during_fault: bool = False) -> None:
        if weight is not None:
            text = f"/set weight_kg {weight}"
            reply = self.turn(worker, user_id, text, during_fault=during_fault)
            assert reply is not None and "Saved" in reply, (text, reply)
            expected.weight, expected.last_text = weight, text
        if note is not None:
            text = f"/pref note {note}"
            reply = self.turn(worker, user_id, text, during_fault=during_fault)
            assert reply is not None and "Noted" in reply, (text, reply)
            expected.note, expected.last_text = note, text

    def read(self, worker: Worker, user_id: int, expected: Expected, kind: str, *, round_no: int,
             during_fault: bool = False) -> None:
        marker = f"m{next(self.sequence)}"
        text = {"profile": f"/profile {marker}", "prefs": f"/prefs {marker}", "history": "/history 2"}[kind]
        reply = self.turn(worker, user_id, text, during_fault=during_fault)
        if reply is None:
            return
        self.tally.reads[kind] += 1
        if kind == "profile" and expected.weight is not None:
            ok = re.findall(r"(\d+(?:\.\d+)?) kg\b", reply) == [str(expected.weight)]
        elif kind == "prefs" and expected.note is not None:
            ok = expected.note in reply
        elif kind == "history" and expected.last_text is not None:
            ok = expected.last_text in reply
        else:
            ok = True
        if not ok:
            wanted = {"profile": expected.weight, "prefs": expected.note, "history": expected.last_text}[kind]
            self.tally.stale.append((kind, worker.name, round_no, wanted, reply[:160]))
        expected.last_text = text

    def read_all(self, workers: list[Worker], user_id: int, expected: Expected, *, round_no: int,
                 during_fault: bool = False) -> None:
        """Each kind of read through each worker, first worker first."""
        for worker in workers:
            for kind in self.READS:
                self.read(worker, user_id, expected, kind, round_no=round_no, during_fault=during_fault)


class Gate:
    """Holds a gated worker's next miss of user memory between its database read and its fill
    (tests/fleet/wsgi.py: FLEET_GATE): while the test holds it, another process commits a write, so the
    reader's fill comes after the invalidation with the old row — the stale-set race, in every round.

        with gate.hold(lambda: worker_b.post(...)) as held:   # returns once B has loaded
            ...write through A, acknowledged...
        # leaving: B goes on, fills (or is refused), answers; held.result is its reply

    Loads while nothing is held go straight on (nothing listens on the socket then)."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "gate.sock"
        self.env = {"FLEET_GATE": str(self.path)}

    @contextlib.contextmanager
    def hold(self, request, timeout: float = 60.0):
        held = _Held()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(1)
        listener.settimeout(timeout)
        caller = threading.Thread(target=held.run, args=(request,))
        caller.start()
        try:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                raise AssertionError(f"the gated worker's request never loaded user memory within {timeout:g}s: "
                                     "it did not miss, so no race was forced") from None
            finally:
                listener.close()
                self.path.unlink()  # later loads go straight on
            with connection:
                assert connection.recv(16) == b"loaded\n"
                yield held
                connection.sendall(b"go\n")
        finally:
            caller.join(timeout=120)
        assert not caller.is_alive(), "the gated request did not finish"
        if held.error is not None:
            raise held.error


class _Held:
    result = None
    error: BaseException | None = None

    def run(self, request) -> None:
        try:
            self.result = request()
        except BaseException as error:  # raised in the test's thread, after the hold
            self.error = error


def wait_for_breakers(workers: list[Worker], timeout: float = 10.0) -> None:
    """Until every worker's breaker is closed again (each /healthz may be the probe that closes it)."""
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending and time.monotonic() < deadline:
        pending = [w for w in pending if w.breaker() != "closed"]
        if pending:
            time.sleep(0.1)
    assert not pending, f"breakers still open after {timeout}s: {[w.name for w in pending]}"


class Fleet:
    """The database, the Redis server (AOF on, as in compose) and `size` workers."""

    def __init__(self, workdir: Path, *, size: int = 2, mechanism_off: str = "", cooldown: float = 1.0,
                 **env_extra: str) -> None:
        self.workdir = workdir
        self.redis = RedisServer.start_new(workdir, appendonly=True)
        self.database = FleetDatabase(workdir)
        env = service_env(database_url=self.database.url, redis_url=self.redis.url,
                          FLEET_MECHANISM_OFF=mechanism_off, REDIS_BREAKER_COOLDOWN=str(cooldown), **env_extra)
        self.workers: list[Worker] = []
        try:
            for name in "ABCDEFGH"[:size]:
                self.workers.append(Worker(name, env, workdir))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.redis.stop()
        self.database.drop()
