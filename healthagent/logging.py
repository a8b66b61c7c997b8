"""The service's one log format, its per-request context, secret redaction and slow-query logging.

settings.LOGGING names `ServiceFormatter` and `ContextFilter`, so `django.setup()` imports this
module in every process (web workers, management commands, tests) and `install()` at the bottom
connects the two receivers below exactly once:

- `request_started` gives each HTTP request an id (`X-Request-ID` when the caller sent a sane one,
  else a fresh one); every line logged while it is served carries `[req=…]`, and the webhook adds
  `update=<update_id>` with `log_context()`.
- `connection_created` installs an execute wrapper on every database connection that logs queries
  taking SLOW_QUERY_MS or longer (0: every query) at WARNING on `healthagent.sql`, with the duration.

Redaction is belt and braces: the code never logs the FDC key or the webhook secret (tests prove
it), and the formatter still replaces every known secret in the finished line, traceback included.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished, request_started, setting_changed
from django.db.backends.signals import connection_created

sql_logger = logging.getLogger("healthagent.sql")

REDACTED = "[redacted]"
# Shorter values (a test's "s", "DEMO_KEY" aside) would blank out ordinary words in every line.
_MIN_SECRET_LENGTH = 8
_PUBLIC_VALUES = frozenset({"DEMO_KEY"})  # FDC's documented shared key: not a secret
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_SQL_CHARS = 1000

_context: ContextVar[tuple[tuple[str, Any], ...]] = ContextVar("healthagent_log_context", default=())


# --- context ---------------------------------------------------------------------------------------
@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` (None values skipped) to every line this thread logs inside the block."""
    extra = tuple((name, value) for name, value in fields.items() if value is not None)
    token = _context.set(_context.get() + extra)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Puts the context on the record: `record.context` (" [req=… update=…]" or "") for the format,
    and each field as an attribute (`record.request_id`, `record.update_id`) for structured handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        for name, value in fields:
            setattr(record, name, value)
        record.context = " [" + " ".join(f"{_short(name)}={value}" for name, value in fields) + "]" if fields else ""
        return True


def _short(name: str) -> str:
    return {"request_id": "req", "update_id": "update"}.get(name, name)


def _request_started(sender: Any, environ: dict | None = None, **kwargs: Any) -> None:
    given = (environ or {}).get("HTTP_X_REQUEST_ID", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(6)
    # A request starts with a clean context: nothing of the previous one on this thread leaks in.
    _context.set((("request_id", request_id),))


def _request_finished(sender: Any, **kwargs: Any) -> None:
    _context.set(())


# --- format and redaction --------------------------------------------------------------------------
class ServiceFormatter(logging.Formatter):
    """logging.Formatter that tolerates records without the context and redacts known secrets."""

    # settings.LOG_FORMAT; gunicorn's loggers (healthagent/gunicorn_conf.py) use this default.
    FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"

    def __init__(self, fmt: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt or self.FORMAT, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            record.context = ""
        return redact(super().format(record))


def redact(text: str) -> str:
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


_secrets: tuple[str, ...] | None = None  # known_secrets(), until a setting changes


def known_secrets() -> tuple[str, ...]:
    """The configured secrets: read once (every line logged asks), and again after a setting
    changed (override_settings, the tests' `settings` fixture: `_setting_changed`)."""
    global _secrets
    if _secrets is None:
        found = _configured_secrets()
        if found is None:  # logging before settings are usable: asked again next time
            return ()
        _secrets = found
    return _secrets


def _setting_changed(**kwargs: Any) -> None:
    global _secrets
    _secrets = None


def _configured_secrets() -> tuple[str, ...] | None:
    try:
        values = [
            settings.USDA_API_KEY,
            settings.TELEGRAM_WEBHOOK_SECRET,
            settings.TELEGRAM_BOT_TOKEN,
            settings.METRICS_TOKEN,
            settings.SECRET_KEY,
            *(str(db.get("PASSWORD") or "") for db in settings.DATABASES.values()),
            _url_password(settings.REDIS_URL),
        ]
    except (ImproperlyConfigured, AttributeError):  # logging before settings are usable
        return None
    return tuple(v for v in values if len(v) >= _MIN_SECRET_LENGTH and v not in _PUBLIC_VALUES)


@lru_cache(maxsize=8)
def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


# --- slow queries ----------------------------------------------------------------------------------
def _log_slow_query(execute: Any, sql: str, params: Any, many: bool, context: dict) -> Any:
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        duration_ms = (time.perf_counter() - started) * 1000
        if duration_ms >= settings.SLOW_QUERY_MS:
            alias = context["connection"].alias
            shown = sql if len(sql) <= _MAX_SQL_CHARS else sql[:_MAX_SQL_CHARS] + "…"
            # Parameters stay out: they hold user text. The statement and its duration are enough.
            sql_logger.warning(
                "slow SQL query: %.1f ms on %s%s: %s", duration_ms, alias, " (executemany)" if many else "", shown,
                extra={"duration_ms": round(duration_ms, 3), "sql": shown, "db_alias": alias},
            )


def _connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    # connection_created fires on every (re)connect and the wrapper list outlives the connection:
    # install once. First in the list (the outermost wrapper): `connection.execute_wrapper()` blocks
    # pop the last entry on exit, so an append made inside one would be popped in its place.
    if _log_slow_query not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _log_slow_query)


def install() -> None:
    request_started.connect(_request_started, dispatch_uid="healthagent.logging.request_started")
    request_finished.connect(_request_finished, dispatch_uid="healthagent.logging.request_finished")
    connection_created.connect(_connection_created, dispatch_uid="healthagent.logging.slow_queries")
    setting_changed.connect(_setting_changed, dispatch_uid="healthagent.logging.secrets")


install()
