"""Logging: one format, request and update ids on the webhook's lines, no secrets, slow SQL queries."""

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.signals import request_started
from django.db import connection
from django.db.backends.signals import connection_created

from healthagent.logging import REDACTED, ContextFilter, ServiceFormatter, current_context, log_context
from memory.models import Profile
from tests.nutrition.fakes import BANANA_NUTRIENTS, TEST_API_KEY, fdc_food
from tests.telegram import Bot, make_update

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture
def service_log():
    """Everything logged from now on, formatted exactly as the service's console handler does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ServiceFormatter(django_settings.LOG_FORMAT))
    handler.addFilter(ContextFilter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.fixture
def everything_at_debug(caplog, settings):
    settings.SLOW_QUERY_MS = 0  # every SQL statement logged as well
    for name in ("", "urllib3", "django", "django.request", "django.server", "healthagent.sql", "caching"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def raw_text(record: logging.LogRecord) -> str:
    """All a record carries, before any redaction: message, arguments, traceback, extra fields."""
    parts = [record.getMessage(), repr(record.args), repr(vars(record))]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def test_the_fdc_key_and_the_webhook_secret_never_reach_a_log_line(
    client, webhook_secret, fake_fdc, everything_at_debug, service_log
):
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    fake_fdc.add(403, body={"error": {"code": "API_KEY_INVALID", "message": "An invalid api_key was supplied"}})
    bot = Bot(client, webhook_secret)

    assert "Bananas, raw" in bot.say("/food banana", update_id=5001)
    assert bot.say("/food apple", update_id=5002)                      # FDC refuses the key: logged
    assert bot.post(make_update("/start"), secret="wrong-secret-xyz").status_code == 403
    assert bot.post(b"not json", raw=True).status_code == 400          # django.request logs a 400

    records = everything_at_debug.records
    output = service_log.getvalue()
    # The capture really holds DEBUG lines of every kind, so the absence below means something.
    # urllib3's pool names every URL, query (the user's words) included: kept to ERROR (settings.LOGGING).
    assert not any(r.name == "urllib3.connectionpool" and r.levelno < logging.ERROR for r in records)
    assert any(r.name == "django.request" for r in records)
    assert any(r.name == "nutrition.fdc" and "403" in r.getMessage() for r in records)
    assert any(r.name == "healthagent.sql" for r in records)
    assert len(fake_fdc.requests) >= 2 and fake_fdc.requests[0].headers["X-Api-Key"] == TEST_API_KEY

    for secret in (TEST_API_KEY, webhook_secret):
        assert [r.getMessage() for r in records if secret in raw_text(r)] == []
        assert secret not in output
    assert REDACTED not in output  # nothing even tried: redaction is only the second line of defence


def test_the_webhook_lines_carry_the_request_id_and_the_update_id(bot, settings, caplog, service_log):
    settings.SLOW_QUERY_MS = 0
    caplog.set_level(logging.DEBUG)
    response = bot.client.post(
        "/telegram/webhook/", data=json.dumps(make_update("/start", update_id=7007)),
        content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=bot.secret,
        HTTP_X_REQUEST_ID="edge-4f2a",
    )
    assert response.status_code == 200

    turn_lines = [line for line in service_log.getvalue().splitlines() if "update=7007" in line]
    assert any("update 7007 handled" in line for line in turn_lines)
    assert any("healthagent.sql" in line for line in turn_lines)
    assert all("[req=edge-4f2a update=7007]" in line for line in turn_lines)
    handled = [r for r in caplog.records if "update 7007 handled" in r.getMessage()]
    assert [(r.request_id, r.update_id) for r in handled] == [("edge-4f2a", 7007)]
    assert current_context() == {}  # nothing leaks into what this thread logs next


def test_each_request_gets_its_own_id_and_a_bad_given_one_is_replaced(client, service_log):
    def log_a_line(**kwargs):  # connected after the id is set: logs inside the request's context
        logging.getLogger("tests.request_id").warning("request seen")

    request_started.connect(log_a_line, dispatch_uid="tests.log_a_line")
    try:
        client.get("/healthz")
        client.get("/healthz")
        client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith a newline")
    finally:
        request_started.disconnect(dispatch_uid="tests.log_a_line")

    ids = re.findall(r"\[req=([^\] ]+)\]", service_log.getvalue())
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{12}", request_id) for request_id in ids)


def test_known_secrets_are_redacted_in_messages_and_tracebacks(settings, service_log):
    settings.USDA_API_KEY = "fdc-key-0123456789"
    settings.TELEGRAM_BOT_TOKEN = "123456:bot-token-abcdef"
    logger = logging.getLogger("tests.redaction")

    logger.warning("calling FDC with %s", settings.USDA_API_KEY)
    try:
        raise RuntimeError(f"token {settings.TELEGRAM_BOT_TOKEN} refused")
    except RuntimeError:
        logger.exception("sending failed")

    output = service_log.getvalue()
    assert "fdc-key-0123456789" not in output and "bot-token-abcdef" not in output
    assert output.count(REDACTED) == 2  # in the message, and in the traceback's exception line


def test_a_secret_changed_after_a_line_was_logged_is_redacted_too(settings, service_log):
    """The secrets are read once, not per line: a changed setting makes them read again."""
    logger = logging.getLogger("tests.redaction")
    logger.warning("a line before: the secrets are read now")
    settings.USDA_API_KEY = "fdc-key-changed-0123456789"
    logger.warning("calling FDC with %s", settings.USDA_API_KEY)
    assert "fdc-key-changed" not in service_log.getvalue() and REDACTED in service_log.getvalue()


def test_short_values_and_the_public_demo_key_are_not_redacted(settings, service_log):
    settings.USDA_API_KEY = "DEMO_KEY"
    settings.TELEGRAM_WEBHOOK_SECRET = "s"
    logging.getLogger("tests.redaction").warning("using DEMO_KEY: 30 requests an hour, says the docs")
    assert "using DEMO_KEY: 30 requests an hour, says the docs" in service_log.getvalue()


def test_log_context_nests_and_unwinds():
    with log_context(request_id="r1"):
        with log_context(update_id=9, skipped=None):
            assert current_context() == {"request_id": "r1", "update_id": 9}
        assert current_context() == {"request_id": "r1"}
    assert current_context() == {}


# --- slow queries ----------------------------------------------------------------------------------
def test_a_query_at_or_over_slow_query_ms_is_logged_with_its_duration(settings, caplog):
    settings.SLOW_QUERY_MS = 0
    with caplog.at_level(logging.WARNING, logger="healthagent.sql"):
        Profile.objects.filter(username="ada").count()
    (record,) = [r for r in caplog.records if r.name == "healthagent.sql"]
    assert record.levelno == logging.WARNING
    assert "COUNT(*)" in record.sql and "memory_profile" in record.sql
    assert isinstance(record.duration_ms, float) and record.duration_ms >= 0
    assert record.getMessage().startswith(f"slow SQL query: {record.duration_ms:.1f} ms on default")
    assert "ada" not in record.getMessage()  # parameters (user text) stay out


def test_queries_under_slow_query_ms_are_not_logged(settings, caplog):
    settings.SLOW_QUERY_MS = 10**9
    with caplog.at_level(logging.DEBUG, logger="healthagent.sql"):
        Profile.objects.count()
    assert [r for r in caplog.records if r.name == "healthagent.sql"] == []


def test_the_slow_query_wrapper_is_installed_once_per_connection():
    connection.ensure_connection()
    connection_created.send(sender=type(connection), connection=connection)  # a reconnect
    connection_created.send(sender=type(connection), connection=connection)
    names = [getattr(w, "__name__", "") for w in connection.execute_wrappers]
    assert names.count("_log_slow_query") == 1


# --- one format, LOG_LEVEL -------------------------------------------------------------------------
_EMIT = (
    "import django, logging; django.setup(); "
    "logging.getLogger('django.request').warning('from django.request'); "
    "logging.getLogger('django.server').warning('from django.server'); "
    "logging.getLogger('nutrition.fdc').info('from nutrition at info')"
)


def _run_with(level: str) -> list[str]:
    env = {**os.environ, "LOG_LEVEL": level, "DJANGO_SETTINGS_MODULE": "healthagent.settings",
           "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef", "TELEGRAM_WEBHOOK_SECRET": "s"}
    done = subprocess.run([sys.executable, "-c", _EMIT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stderr.splitlines()


def test_every_logger_uses_the_one_format_at_log_level():
    line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) [a-z_.]+: .+")
    info = _run_with("INFO")
    assert [entry for entry in info if not line.fullmatch(entry)] == []
    assert sum("from django.request" in entry for entry in info) == 1  # once: no second Django handler
    assert sum("from django.server" in entry for entry in info) == 1
    assert any(entry.endswith("INFO nutrition.fdc: from nutrition at info") for entry in info)

    warning = _run_with("WARNING")
    assert not any("from nutrition at info" in entry for entry in warning)
    assert any("from django.request" in entry for entry in warning)
