"""The production server configuration (gunicorn with healthagent/gunicorn_conf.py, DJANGO_DEBUG off,
a database and a Redis of its own) keeps answering while 16 slow peers hold connections — each sends
one header line every 2 s and never finishes its request — for SLOW_PEERS_HOLD seconds (default 60),
and while one user's food lookups wait 5 s for a slow FDC. Judged by what was answered, not by time:
every /healthz probe and every other user's webhook turn gets its 200 (bench/slow_peers.py).

The sync worker this replaced answered 0 of 28 probes of each kind under the same load
(docs/OPERATIONS.md, "Workers")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bench.slow_peers import run
from tests.fleet.harness import FleetDatabase, service_env
from tests.nutrition.fakes import BANANA_NUTRIENTS, FakeFDC, fdc_food
from tests.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.slow_peers, pytest.mark.redis_server, pytest.mark.fleet]
ROOT = Path(__file__).resolve().parent.parent
SECRET = "slow-peers-secret"


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slow-peers")
    redis = RedisServer.start_new(workdir)
    database = FleetDatabase(workdir)
    fdc = FakeFDC()
    fdc.add(200, {"foods": [fdc_food(description="Banana, raw", nutrients=BANANA_NUTRIENTS)]}, delay=5.0)
    port = free_port()
    env = service_env(database_url=database.url, redis_url=redis.url, TELEGRAM_WEBHOOK_SECRET=SECRET,
                      NUTRITION_PROVIDER="usda", USDA_API_URL=fdc.url, USDA_API_KEY="slow-peers-key",
                      HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="2", HEALTHAGENT_ENV_FILE="")
    env.pop("WEB_THREADS", None)  # the production default
    log = open(workdir / "gunicorn.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "healthagent.wsgi",
                                "--config", "python:healthagent.gunicorn_conf"],
                               cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workdir / "gunicorn.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz"
            time.sleep(0.2)
        yield url, fdc
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        fdc.close()
        redis.stop()
        database.drop()


def test_slow_peers_and_a_slow_fdc_do_not_stop_the_service(production_server):
    """On SQLite without the slow FDC: SQLite has one writer, and a turn keeps its transaction open
    while it waits for FDC, so there one slow lookup holds every other turn (docs/OPERATIONS.md)."""
    url, fdc = production_server
    slow_food = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    result = run(url=url, secret=SECRET, connections=16, interval=2.0,
                 hold=float(os.environ.get("SLOW_PEERS_HOLD", "60")),
                 probe_timeout=float(os.environ.get("SLOW_PEERS_PROBE_TIMEOUT", "5")), slow_food=slow_food)
    print(result)
    assert result["slow_peers_still_open_at_end"] == 16, result  # the load was really there throughout
    if slow_food:  # and so were the slow lookups, answered in the end
        assert result["slow_food"]["answered"] >= 2 and len(fdc.requests) >= 2, result
    for kind in ("healthz", "webhook"):
        assert result[kind]["sent"] >= 10, result
        assert result[kind]["answered"] == result[kind]["sent"], result
