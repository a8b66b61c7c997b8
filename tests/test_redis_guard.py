"""`make test` cannot lose anyone's data: the suite refuses a Redis database holding keys it did not write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import redis_guard
from tests.redis_server import redis_server  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.redis_server


def test_an_empty_database_is_accepted_and_then_marked(redis_server):
    assert redis_guard.refusal(redis_server.url) is None
    redis_guard.claim(redis_server.url)
    assert redis_server.cli("EXISTS", redis_guard.OWNER_KEY) == "1"


def test_a_database_with_foreign_keys_is_refused_with_the_reason(redis_server):
    redis_server.cli("SET", "ha:s1:1:user_memory:{7}", "someone's data")
    reason = redis_guard.refusal(redis_server.url)
    assert reason is not None
    assert redis_server.url in reason and "1 key(s)" in reason and "user_memory:{7}" in reason
    assert "TEST_REDIS_URL" in reason


def test_keys_left_by_an_earlier_run_of_the_suite_are_accepted(redis_server):
    redis_guard.claim(redis_server.url)
    redis_server.cli("SET", "ha:s1:1:user_memory:{7}", "left by an interrupted run")
    assert redis_guard.refusal(redis_server.url) is None


def test_the_suite_stops_before_any_test_and_the_key_survives(redis_server):
    redis_server.cli("SET", "precious", "do not flush")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_TEST_NAME")}
    env.update(REDIS_URL=redis_server.url, DJANGO_SECRET_KEY="test-only-secret-key-not-for-production-0123456789abcdef", TELEGRAM_WEBHOOK_SECRET="guard-test")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_healthz.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "refusing to run the test suite" in output and "passed" not in output
    assert redis_server.cli("GET", "precious") == "do not flush"
