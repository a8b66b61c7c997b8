"""Two worker processes on one database and one fake Bot API: a reminder set a moment ahead arrives
once, round after round, with a worker killed mid-delivery.

Each round sets a one-off reminder for a user of its own, due a moment ahead, and counts what the
fake Bot API received for that chat. The rounds cycle through:
- "race": both workers compete for it;
- "kill_sending": the request reaches the fake Bot API (Telegram has it), which holds back its
  answer; the worker that sent it is killed (SIGKILL). The survivor must never send it again;
- "kill_claimed": the worker that claimed it is killed before it sent anything (a fault point in the
  test's worker script). The survivor must send it, once, when the claim's lease runs out;
- "rate_limited": Telegram answers 429 with retry_after; the next try comes no sooner.
A killed worker is replaced by a fresh process, so every round starts with two.

DELIVERY_ROUNDS sets the number of rounds (default 20: five of each kind).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fleet.harness import ROOT, FleetDatabase, service_env
from tests.redis_server import RedisServer
from tests.telegram_api import TOKEN, FakeBotAPI

pytestmark = pytest.mark.fleet
KINDS = ("race", "kill_sending", "kill_claimed", "rate_limited")
WAIT = 60.0  # seconds any one step may take on a loaded machine before the test gives up


def rounds() -> int:
    return int(os.environ.get("DELIVERY_ROUNDS") or 20)


class Database:
    """Raw SQL on the fleet's database (the test process's own Django is on the test database)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.mark = "%s"

    def run(self, sql: str, *params: object) -> list[tuple]:
        cursor = self.conn.execute(sql.replace("%s", self.mark), params)
        return list(cursor.fetchall()) if cursor.description else []

    def close(self) -> None:
        self.conn.close()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _wait(what: str, condition, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Workers:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.procs: dict[int, subprocess.Popen] = {}

    def start(self) -> None:
        log = open(self.workdir / f"worker-{len(self.procs)}-{time.monotonic_ns()}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "tests.conversations.delivery_worker"], cwd=ROOT,
                                env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        self.procs[proc.pid] = proc

    def kill(self, pid: int) -> None:
        proc = self.procs.pop(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)

    def stop(self) -> None:
        for pid in list(self.procs):
            self.kill(pid)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("delivery")
    api = FakeBotAPI()
    redis = RedisServer.start_new(workdir)
    database = FleetDatabase(workdir)
    env = service_env(database_url=database.url, redis_url=redis.url, TELEGRAM_BOT_TOKEN=TOKEN,
                      TELEGRAM_API_URL=api.url, OUTGOING_CLAIM_LEASE="2", OUTGOING_SENDING_LEASE="3",
                      PAUSE_FILE=str(workdir / "pause"), PYTHONPATH=str(ROOT))
    workers = Workers(env, workdir)
    db = Database(database.url)
    try:
        workers.start()
        workers.start()
        yield api, workers, db, workdir
    finally:
        workers.stop()
        db.close()
        api.close()
        database.drop()
        redis.stop()


def _set_reminder(db: Database, user_id: int, text: str) -> None:
    now = _now()
    db.run("INSERT INTO memory_profile (telegram_id, name, username, sex, activity, goal, tz, language, created_at, "
           "updated_at) VALUES (%s, '', '', '', '', '', '', '', %s, %s)", user_id, now, now)
    db.run('INSERT INTO conversations_reminder (user_id, kind, text, "repeat", at_minute, next_fire_at, active, '
           "created_at) VALUES (%s, 'text', %s, 'once', 0, %s, %s, %s)",
           user_id, text, now + datetime.timedelta(milliseconds=300), True, now)


def _row(db: Database, user_id: int) -> tuple | None:
    rows = db.run("SELECT status, worker, error FROM conversations_outgoingmessage WHERE user_id = %s", user_id)
    return rows[0] if rows else None


def _delivered(api: FakeBotAPI, user_id: int) -> int:
    return sum(1 for sent in api.sent if sent.get("chat_id") == user_id)


def test_two_workers_deliver_each_reminder_once_with_a_worker_killed_mid_delivery(fleet):
    api, workers, db, workdir = fleet
    tally = {kind: 0 for kind in KINDS}
    for n in range(rounds()):
        kind, user_id = KINDS[n % len(KINDS)], 910_000 + n
        if kind == "kill_sending":
            arrived, release = api.hold("sendMessage")
            _set_reminder(db, user_id, f"round {n}")
            assert arrived.wait(WAIT), "the request never reached the Bot API"
            status, worker, _ = _wait("the row marked sending", lambda: _row(db, user_id))
            assert status == "sending"
            workers.kill(int(worker.rsplit(":", 1)[1]))
            release.set()
            workers.start()
            status, _, error = _wait("the row failed as uncertain",
                                     lambda: (r := _row(db, user_id)) and r[0] == "failed" and r)
            assert error.startswith("uncertain"), error
        elif kind == "kill_claimed":
            (workdir / "pause").write_text("")
            _set_reminder(db, user_id, f"round {n}")
            paused = workdir / "pause.paused"
            pid = int(_wait("a worker paused after its claim", lambda: paused.exists() and paused.read_text()))
            paused.unlink()
            assert _delivered(api, user_id) == 0
            workers.kill(pid)
            workers.start()
            _wait("the survivor's delivery", lambda: (r := _row(db, user_id)) and r[0] == "sent")
        elif kind == "rate_limited":
            api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
            _set_reminder(db, user_id, f"round {n}")
            _wait("the delivery after the 429", lambda: (r := _row(db, user_id)) and r[0] == "sent")
            times = [at for method, params, at in api.timed_calls if method == "sendMessage"
                     and params.get("chat_id") == user_id]
            assert len(times) == 2 and times[1] - times[0] >= 1.0  # not before retry_after
        else:
            _set_reminder(db, user_id, f"round {n}")
            _wait("the delivery", lambda: (r := _row(db, user_id)) and r[0] == "sent")
        assert _delivered(api, user_id) == 1, f"round {n} ({kind}): delivered {_delivered(api, user_id)} times"
        tally[kind] += 1
    summary = {"rounds": rounds(), "by_kind": tally, "deliveries": len(api.sent), "duplicates": 0, "lost": 0}
    if out := os.environ.get("DELIVERY_ARTIFACTS"):  # .ci/run prints it
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(summary))


def test_celery_beat_and_a_worker_deliver_a_due_reminder_once(tmp_path):
    """The engine itself: `celery beat` schedules the passes, a `celery worker` runs them, with the
    broker on a Redis of the test's own, and a reminder due a moment ahead reaches the Bot API once."""
    celery = str(Path(sys.executable).with_name("celery"))
    api = FakeBotAPI()
    redis = RedisServer.start_new(tmp_path)
    database = FleetDatabase(tmp_path)
    env = service_env(database_url=database.url, redis_url=redis.url, TELEGRAM_BOT_TOKEN=TOKEN,
                      TELEGRAM_API_URL=api.url, REMINDER_TICK_SECONDS="0.5", DELIVERY_TICK_SECONDS="0.5")
    procs = []
    db = Database(database.url)
    try:
        for args in (["worker", "--pool", "threads", "--concurrency", "2", "--without-mingle", "--without-gossip",
                      "-n", "w1@%h"],
                     ["beat", "-s", str(tmp_path / "beat-schedule"), "--pidfile="]):
            log = open(tmp_path / f"celery-{args[0]}.log", "w")
            procs.append(subprocess.Popen([celery, "-A", "healthagent", *args, "-l", "info"], cwd=ROOT, env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
        _set_reminder(db, 900_001, "from celery")
        _wait("the delivery through celery", lambda: (r := _row(db, 900_001)) and r[0] == "sent")
        ticks = len([c for c in api.calls])
        _wait("two more passes", lambda: "deliver_outgoing" in (tmp_path / "celery-worker.log").read_text()
              and (tmp_path / "celery-worker.log").read_text().count("deliver_outgoing") >= 3)
        assert _delivered(api, 900_001) == 1 and len(api.calls) == ticks
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=WAIT)
        db.close()
        api.close()
        database.drop()
        redis.stop()
