"""gunicorn's settings for `make serve` and the container: `gunicorn healthagent.wsgi -c python:healthagent.gunicorn_conf`.

HOST, PORT and WEB_CONCURRENCY (the environment, then .env) say where it listens and how many worker
processes it starts. Its own loggers (gunicorn.error, gunicorn.access) go through the service's one
log format (healthagent.logging), so the lines of the master, the workers and Django look alike.
"""

from __future__ import annotations

import os

from healthagent import env

env.load()  # .env counts for these settings too; the workers read it again through wsgi.py


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _default_workers() -> str:
    # Every worker shares the embedded valkey-server (caching/servers/embedded.py); where it cannot run and no
    # REDIS_URL is set, the cache is in-process fakeredis, which one process only may use.
    from caching.conf import server_binary

    shared = _env("REDIS_URL", "") or (_env("EMBEDDED_REDIS", "valkey") == "valkey" and server_binary())
    return "2" if shared else "1"


bind = f"{_env('HOST', '127.0.0.1')}:{_env('PORT', '8000')}"
workers = int(_env("WEB_CONCURRENCY", "") or _default_workers())
# Threads, not one request per process: a sync worker is held by one client that sends its headers
# slowly (2 such connections stopped /healthz answering) or by one turn waiting for FDC. gthread waits
# for a connection's first bytes off its threads, and a peer that then trickles holds one thread of
# WEB_THREADS, not the process. docs/OPERATIONS.md, "Workers", has the measurements (sync, gthread,
# gunicorn's ASGI worker). Named explicitly: gunicorn turns sync into gthread when threads > 1 anyway.
worker_class = "gthread"
threads = int(_env("WEB_THREADS", "32"))
# X-Forwarded-Proto is believed from the proxy only (docker/Caddyfile; the same list Django reads in
# healthagent/proxy.py). Empty: from nobody.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "")
loglevel = _env("LOG_LEVEL", "INFO").lower()
# Nothing here uses gunicornc, and two servers on one machine would share its socket path.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# Time, level and logger come from the format itself: the access line says who asked what and how it went.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s bytes %(M)s ms "%(a)s"'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "healthagent.logging.ContextFilter"}},
    "formatters": {"service": {"()": "healthagent.logging.ServiceFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "service", "filters": ["context"],
                             "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["console"], "level": loglevel.upper()},
    "loggers": {
        # No handlers of their own: through the root's, one format for every line.
        "gunicorn.error": {"handlers": [], "level": loglevel.upper(), "propagate": True},
        "gunicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
