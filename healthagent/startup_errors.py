"""Start-up failures an operator can fix, told in one short line instead of a traceback.

`manage.py`, `wsgi.py` and `asgi.py` catch ImproperlyConfigured from settings.py (and manage.py an
unreachable database) and end the process with `exit()`: the message names the variable, its value
with any password masked, and what to set. Real bugs keep their tracebacks.
"""

from __future__ import annotations

import os
import re
import sys
from typing import NoReturn

from caching.conf import redact_url

# sysexits.h EX_CONFIG. gunicorn treats a worker that exits with 4 as "App failed to load" and stops
# instead of restarting the worker forever: the same code serves both.
EXIT_CONFIG = 4
_VARIABLE = re.compile(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
_SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSWORD|API_KEY")


def masked(name: str, value: str) -> str:
    """A variable's value as it may be printed: secrets hidden, passwords in URLs masked."""
    if _SECRET_NAMES.search(name) and value:
        return "***"
    return redact_url(value)


def describe(message: str) -> str:
    """The message, plus the value of the variable it names when the message does not quote it."""
    found = _VARIABLE.search(message)
    if found and found.group(1) in os.environ:
        name = found.group(1)
        shown = masked(name, os.environ[name])
        if shown not in message and os.environ[name] not in message:
            message = f"{message.rstrip('.')} ({name}={shown!r})"
    return message


def exit(message: str) -> NoReturn:
    sys.stderr.write(f"healthagent: configuration error: {describe(message)}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_CONFIG)


# --- the database, checked before a management command uses it ----------------------------------
# Commands that never touch the database: an operator reading the cache while PostgreSQL is down
# must still be able to.
_NO_DATABASE = {"help", "version", "collectstatic", "cache_stats", "check", "--help", "-h", "--version"}


def needs_database(argv: list[str]) -> bool:
    args = argv[1:]
    return bool(args) and args[0] not in _NO_DATABASE and "--help" not in args and "-h" not in args


def database_problem() -> str | None:
    """Why PostgreSQL cannot be used, found with one direct connection in at most ~2 s; else None.

    Django's connection pool would retry for its whole timeout and end with "couldn't get a
    connection", naming neither DATABASE_URL nor the cause."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return None
    import psycopg

    try:
        psycopg.connect(
            dbname=db.get("NAME") or None, user=db.get("USER") or None, password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None, port=db.get("PORT") or None, connect_timeout=2,
        ).close()
    except psycopg.OperationalError as exc:
        cause = _cause(str(exc))
        hint = f"create it (createdb {db['NAME']})" if "does not exist" in cause else "start PostgreSQL"
        return f"DATABASE_URL: cannot use PostgreSQL: {cause}; {hint} or set DATABASE_URL"
    return None


def _cause(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()] or ["no answer"]
    first = next((line for line in lines if "failed" in line), lines[0])
    return re.sub(r"\s+", " ", re.sub(r"^connection failed: |FATAL:\s*", "", first))


# --- checks of a serving process (wsgi.py, asgi.py) and of every command that may use Redis -------
def serving_problem() -> str | None:
    """What makes a web server answer nothing useful: with DEBUG off and no allowed host, Django
    answers 400 to every request, /healthz included."""
    from django.conf import settings

    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        return ("DJANGO_ALLOWED_HOSTS is empty, so every request would be refused (400): set it to the "
                "host names the service answers to (or set BOT_DOMAIN)")
    return None


def redis_tls_problem(timeout: float = 2.0) -> str | None:
    """A rediss:// REDIS_URL whose server certificate this process cannot verify: the cache would be
    bypassed for good while /healthz says only "degraded". An unreachable Redis is not refused here
    (the cache is built to run without it); a certificate that fails is a configuration to fix."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    if not url.startswith("rediss://"):
        return None
    import ssl

    import redis

    # RESP2: the probe needs the TLS handshake and one PING, nothing a HELLO would negotiate.
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout, protocol=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
            cause = cause.__cause__ or cause.__context__
        if cause is None and "CERTIFICATE_VERIFY_FAILED" not in str(exc):
            return None
        reason = getattr(cause, "verify_message", None) or "certificate verify failed"
        return (f"REDIS_URL: the TLS certificate of {redact_url(url).split('@')[-1].split('/')[0]} cannot be "
                f"verified ({reason}); name the CA that signed it with ?ssl_ca_certs=/path/to/ca.pem")
    except redis.RedisError:
        return None  # it answered over TLS (an auth or other error is not this check's business)
    finally:
        client.close()
    return None
