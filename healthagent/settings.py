"""Settings for healthagent, read once from the environment (see .env.example).

Every variable is optional: with none set the service runs on the embedded default — a SQLite file
and an in-process Redis (fakeredis) — so a newcomer can talk to the bot with no servers. Bad values
fail here, at start-up, with ImproperlyConfigured naming the variable to fix.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ImproperlyConfigured(f"{name} must be greater than 0, not {raw!r}")
    return value


# --- Django core ---------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip() or _DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it to a long random string in production, "
        "or set DJANGO_DEBUG=true for local development."
    )


def weak_secret_key(key: str) -> bool:
    """`manage.py check --deploy`'s rule (security.W009): under 50 characters, under 5 different
    ones, or Django's "django-insecure-" prefix. It signs sessions and every value in the cache."""
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")


if not DEBUG and weak_secret_key(SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is too weak: use at least 50 characters, e.g. "
        "python -c \"import secrets; print(secrets.token_urlsafe(50))\""
    )
# The public name of the service (docker compose's proxy gets its certificate for it): allowed as a
# host, trusted as a CSRF origin over https, and the default webhook URL (manage.py telegram_webhook set).
BOT_DOMAIN = os.environ.get("BOT_DOMAIN", "").strip().lower().rstrip(".")
if BOT_DOMAIN and not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", BOT_DOMAIN):
    raise ImproperlyConfigured(f"BOT_DOMAIN must be a host name such as bot.example.com, not {BOT_DOMAIN!r}")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
if BOT_DOMAIN and BOT_DOMAIN not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(BOT_DOMAIN)
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [f"https://{BOT_DOMAIN}"] if BOT_DOMAIN else []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "caching",
    "memory",
    "conversations",
    "nutrition",
    "agent",
    "axes",
]

MIDDLEWARE = [
    # First: what the rest reads as the client's address and scheme (healthagent/proxy.py).
    "healthagent.proxy.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "healthagent.proxy.ContentSecurityPolicyMiddleware",
    # Serves the admin's static files from gunicorn itself: the container has no other web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# --- HTTPS behind the proxy (docker/Caddyfile; healthagent/proxy.py) -------------------------------
# The proxy's address(es): gunicorn takes X-Forwarded-Proto only from them (forwarded_allow_ips),
# and Django the client's address (X-Forwarded-For); from anyone else those headers are dropped.
# Empty: no proxy is trusted (gunicorn faces its clients itself, e.g. `make serve` on loopback).
def _networks(name: str, value: str, what: str) -> list:
    """The addresses or networks in `value` (comma-separated), or ImproperlyConfigured naming `name`."""
    import ipaddress

    try:
        return [ipaddress.ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}: {exc}") from None


FORWARDED_ALLOW_IPS = os.environ.get("FORWARDED_ALLOW_IPS", "").strip()
TRUSTED_PROXY_NETWORKS = _networks("FORWARDED_ALLOW_IPS", FORWARDED_ALLOW_IPS,
                                   "the proxy's addresses or networks, comma-separated")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
# Sent on https answers only (SecurityMiddleware); the proxy serves nothing but https for BOT_DOMAIN.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# What `check --deploy` asks that this deployment answers elsewhere:
# W008 (SECURE_SSL_REDIRECT): the proxy redirects http to https itself; gunicorn is reached over
#   plain http only on the internal network (the health check, a scraper), which a redirect would break.
# W021 (SECURE_HSTS_PRELOAD): joining browsers' preload list is the domain owner's decision, for the
#   whole registered domain, and hard to undo: not a default a deployment should make for them.
SILENCED_SYSTEM_CHECKS = ["security.W008", "security.W021"]

ROOT_URLCONF = "healthagent.urls"
WSGI_APPLICATION = "healthagent.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "").strip() or "UTC"
try:
    import zoneinfo

    zoneinfo.ZoneInfo(TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    raise ImproperlyConfigured(
        f"TIME_ZONE must be an IANA time zone name such as UTC or Europe/Berlin, not {TIME_ZONE!r}"
    ) from None
USE_I18N = True
# The languages the bot replies in (conversations/language.py picks one per turn); locale/ holds
# their catalogs, compiled .mo files committed beside the .po sources (`make messages` rebuilds both).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The project's own (the admin index's stylesheet): a file, as the content security policy allows no inline style.
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# The webhook body limit (ARCHITECTURE.md §4: over 256 KiB → 413) is enforced by the view, which reads the
# body itself; Django's own limit must not be lower or it would answer 400 first.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
TELEGRAM_MAX_BODY_BYTES = 256 * 1024

# --- Admin login rate limiting (django-axes) ------------------------------------------------------
# Failed logins are counted per client IP and, separately, per username (in the database, so every
# process sees them): ADMIN_LOGIN_FAILURE_LIMIT failures lock that IP or that username out of the
# login for ADMIN_LOGIN_COOLOFF_MINUTES. The IP is REMOTE_ADDR, which is the client's when gunicorn
# faces it directly (as in this project's container).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# Lockouts go to our log (logger "axes") through the one format; no per-attempt access log rows.
AXES_DISABLE_ACCESS_LOG = True

# --- Database ------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    if _db["ENGINE"] not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured(
            "DATABASE_URL must be postgres://user:password@host:5432/name (or unset for the SQLite file)"
        )
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Django's own psycopg 3 pool (needs CONN_MAX_AGE = 0). 2 × cores + 5 is the classic
        # PostgreSQL sizing rule the original plan used.
        _pool_max = env_int("DATABASE_POOL_MAX_SIZE", 2 * (os.cpu_count() or 1) + 5, minimum=1)
        _db["CONN_MAX_AGE"] = 0
        # The pool checks a connection before lending it out (psycopg_pool's check_connection, one
        # empty round trip): after PostgreSQL drops its backends (restart, failover,
        # pg_terminate_backend) a dead connection is replaced instead of failing a turn with 503.
        _db["CONN_HEALTH_CHECKS"] = True
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, _pool_max),
            "max_size": _pool_max,
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 5.0),
        }
        _db["OPTIONS"].setdefault("connect_timeout", 5)
        _db["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME") or None}
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Telegram retries are cheap but a locked SQLite file is not: wait for the writer instead.
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # The message index's INCLUDE columns are a PostgreSQL feature; SQLite simply ignores them.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
DATABASES = {"default": _db}

# --- Cache ---------------------------------------------------------------------------------------
ENABLE_CACHE = env_bool("ENABLE_CACHE", True)
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# A Redis Cluster (REDIS_CLUSTER_NODES) or Sentinel set (REDIS_SENTINELS): caching/servers/config.py.
from caching.conf import apply_to as _apply_redis_topology, from_environment as _redis_topology  # noqa: E402

REDIS_TOPOLOGY = _redis_topology(os.environ)
REDIS_EMBEDDED = not REDIS_URL and REDIS_TOPOLOGY is None
# The embedded default (caching/servers/embedded.py): a valkey-server this project starts itself on a unix
# socket under EMBEDDED_REDIS_DIR, shared by every process of the checkout. EMBEDDED_REDIS=fakeredis
# (or a machine where the binary cannot run) selects in-process fakeredis: one process only.
EMBEDDED_REDIS_DIR = Path(os.environ.get("EMBEDDED_REDIS_DIR", "").strip() or BASE_DIR / ".run").resolve()
EMBEDDED_REDIS = os.environ.get("EMBEDDED_REDIS", "").strip().lower() or "valkey"
if EMBEDDED_REDIS not in {"valkey", "fakeredis"}:
    raise ImproperlyConfigured(f"EMBEDDED_REDIS must be valkey or fakeredis, not {EMBEDDED_REDIS!r}")
if REDIS_URL:
    from redis.connection import parse_url

    try:
        _redis_url = urlsplit(REDIS_URL)
        _scheme = _redis_url.scheme
        if _scheme not in {"redis", "rediss", "unix"}:
            raise ImproperlyConfigured(
                f"REDIS_URL must start with redis://, rediss:// or unix://, not {_scheme or 'nothing'}:// "
                "(unset it to use the embedded Redis)"
            )
        parse_url(REDIS_URL)
        # redis-py ignores a database number it cannot read and silently uses db 0: refuse instead.
        _db_path = _redis_url.path.strip("/") if _scheme != "unix" else ""
        if _db_path and not _db_path.isdigit():
            raise ValueError(f"the database number must be an integer, not {_db_path!r}")
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"REDIS_URL cannot be parsed ({exc}); expected e.g. redis://:password@host:6379/0"
        ) from None
elif EMBEDDED_REDIS == "valkey":
    from caching.conf import server_binary

    if server_binary() is None:
        EMBEDDED_REDIS = "fakeredis"

CACHE_TTL_USER_MEMORY = env_int("CACHE_TTL_USER_MEMORY", 3600, minimum=1)
CACHE_TTL_NUTRITION = env_int("CACHE_TTL_NUTRITION", 86400, minimum=1)
CACHE_TTL_CONVERSATION = env_int("CACHE_TTL_CONVERSATION", 1800, minimum=1)
CACHE_TTL_NUTRITION_EMPTY = min(3600, CACHE_TTL_NUTRITION)

# Our backend (caching/backend/cache.py) on django-redis: Django's full cache contract, JSON or signed
# values, a circuit breaker and fleet-wide stats. Timeouts are sized for a Redis on loopback or in
# the same zone (round trips well under a millisecond): a Redis that does not answer within them is
# treated as down, and after REDIS_BREAKER_FAILURES failures in a row the cache is skipped without
# touching the network, probed again every REDIS_BREAKER_COOLDOWN seconds.
_redis_options: dict = {
    "CLIENT_CLASS": "caching.backend.client.SafeClient",
    "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.25),
    "SOCKET_TIMEOUT": env_float("REDIS_SOCKET_TIMEOUT", 0.25),
    # Capped (REDIS_POOL_MAX_SIZE; a Cluster's or Sentinel's pools always are, 10 by default):
    # blocking, a burst of threads waits briefly for a connection instead of failing at once. A
    # single Redis without a cap: see below.
    "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
    "CONNECTION_POOL_KWARGS": {
        "max_connections": env_int("REDIS_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_float("REDIS_POOL_TIMEOUT", 0.5),
    },
    "BREAKER_FAILURES": env_int("REDIS_BREAKER_FAILURES", 3, minimum=1),
    "BREAKER_COOLDOWN": env_float("REDIS_BREAKER_COOLDOWN", 5.0),
    "STATS_FLUSH_INTERVAL": env_float("REDIS_STATS_FLUSH_INTERVAL", 1.0),
    # Seconds of acknowledged invalidations a Redis that lost writes (a machine crash, a promoted
    # replica) gets replayed before it is read (caching/consistency/replay.py); 0 switches it off.
    "REPLAY_WINDOW": env_int("REDIS_REPLAY_WINDOW", 600, minimum=0),
    # Values of 4 KB and more are stored lz4-compressed when that is smaller: a third of the memory for
    # +4% on a hit (BENCHMARKS.md, "Compression"); smaller ones, a food lookup's among them, stay JSON.
    "COMPRESSOR": "django_redis.compressors.lz4.Lz4Compressor",
}
if REDIS_EMBEDDED and EMBEDDED_REDIS == "valkey":
    from caching.conf import EmbeddedConnection, socket_path

    # The first connect of any process starts the server if none answers (caching/servers/embedded.py).
    REDIS_URL_EFFECTIVE = f"unix://{socket_path(EMBEDDED_REDIS_DIR)}?db=0"
    _redis_options["CONNECTION_POOL_KWARGS"]["connection_class"] = EmbeddedConnection
elif REDIS_EMBEDDED:
    from fakeredis import FakeRedisConnection

    # Every connection to this URL reaches one in-process FakeServer (keyed by host:port), so the
    # whole Redis command set — Lua included — behaves as on a real server, for this process only.
    REDIS_URL_EFFECTIVE = "redis://embedded-fakeredis:6379/0"
    _redis_options["CONNECTION_POOL_KWARGS"]["connection_class"] = FakeRedisConnection
elif REDIS_TOPOLOGY is not None:
    REDIS_URL_EFFECTIVE = REDIS_TOPOLOGY.location
    _apply_redis_topology(_redis_options, REDIS_TOPOLOGY, sentinel_timeouts=(
        _redis_options["SOCKET_CONNECT_TIMEOUT"], _redis_options["SOCKET_TIMEOUT"]))
else:
    REDIS_URL_EFFECTIVE = REDIS_URL
if REDIS_TOPOLOGY is None and not os.environ.get("REDIS_POOL_MAX_SIZE", "").strip():
    # One Redis, no cap: redis-py's ConnectionPool. A thread takes an idle connection or opens one and
    # never waits for another thread's, so a process holds at most as many as it has threads using
    # Redis at once (gunicorn's WEB_THREADS, the stats flusher). A blocking pool of 10 under 32 threads
    # queued them on its lock and, in bursts, failed calls after REDIS_POOL_TIMEOUT — counted as Redis
    # failing, towards the breaker (BENCHMARKS.md, "The hot path's changes, before beside after").
    # (redis-py's own default cap is 100: Redis's maxclients default stands in for "none".)
    _redis_options["CONNECTION_POOL_CLASS"] = "redis.ConnectionPool"
    _redis_options["CONNECTION_POOL_KWARGS"].update(max_connections=10_000)
    del _redis_options["CONNECTION_POOL_KWARGS"]["timeout"]

if ENABLE_CACHE:
    CACHES = {
        "default": {
            "BACKEND": "caching.backend.cache.RedisCache",
            "LOCATION": REDIS_URL_EFFECTIVE,
            # Keys are ha:s<schema>:<VERSION>:<key>; the schema version lives in caching/keys.py.
            "KEY_PREFIX": "ha",
            "OPTIONS": _redis_options,
        }
    }
else:
    # Same answers, no reads or writes: Django's DummyCache with our backend's extra calls.
    CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}

# --- Nutrition (USDA FoodData Central) -----------------------------------------------------------
USDA_API_KEY = os.environ.get("USDA_API_KEY", "").strip() or "DEMO_KEY"
USDA_API_URL = (os.environ.get("USDA_API_URL", "").strip() or "https://api.nal.usda.gov/fdc").rstrip("/")
if urlsplit(USDA_API_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"USDA_API_URL must be an http(s) URL, not {USDA_API_URL!r}")
# Local development without a key of its own gets the offline sample data: DEMO_KEY's 30 requests an
# hour (and no network) would fail most lookups.
NUTRITION_PROVIDER = os.environ.get("NUTRITION_PROVIDER", "").strip().lower() or (
    "sample" if DEBUG and not os.environ.get("USDA_API_KEY", "").strip() else "usda"
)
if NUTRITION_PROVIDER not in {"usda", "sample"}:
    raise ImproperlyConfigured(f"NUTRITION_PROVIDER must be 'usda' or 'sample', not {NUTRITION_PROVIDER!r}")
USDA_CONNECT_TIMEOUT = env_float("USDA_CONNECT_TIMEOUT", 3.05)
USDA_READ_TIMEOUT = env_float("USDA_READ_TIMEOUT", 6.0)
USDA_RETRIES = env_int("USDA_RETRIES", 2)
# The longest a search may take, retries and their pauses included: a retry starts only when it can
# end within it. A bot turn waits for the search, so it stays well under gunicorn's worker timeout.
USDA_TIME_BUDGET = env_float("USDA_TIME_BUDGET", 10.0)
if USDA_CONNECT_TIMEOUT + USDA_READ_TIMEOUT > USDA_TIME_BUDGET:
    raise ImproperlyConfigured(
        f"USDA_TIME_BUDGET ({USDA_TIME_BUDGET:g} s) must be at least USDA_CONNECT_TIMEOUT + USDA_READ_TIMEOUT "
        f"({USDA_CONNECT_TIMEOUT + USDA_READ_TIMEOUT:g} s): one attempt must fit in it"
    )
# A bot turn must not hang on a long Retry-After: longer waits are not retried but reported.
USDA_MAX_RETRY_AFTER = env_float("USDA_MAX_RETRY_AFTER", 5.0)
# Turns per process that may wait on FDC at once (outside their transaction, holding a worker
# thread); the next are told at once that the food database is slow, nothing guessed.
USDA_CONCURRENCY = env_int("USDA_CONCURRENCY", 8, minimum=1)

# --- The agent (optional): an OpenAI-compatible chat-completions endpoint with tool calling --------
# All three or none: without them free text is answered by the rules alone and nothing leaves the
# machine (agent/ and README "The agent" say what is sent when they are set).
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "").strip().rstrip("/")
LLM_API_KEY = os.environ.get("LLM_API_KEY", "").strip()
LLM_MODEL = os.environ.get("LLM_MODEL", "").strip()
_llm_set = [name for name, value in (("LLM_BASE_URL", LLM_BASE_URL), ("LLM_API_KEY", LLM_API_KEY),
                                     ("LLM_MODEL", LLM_MODEL)) if value]
if _llm_set and len(_llm_set) != 3:
    raise ImproperlyConfigured(f"The agent needs LLM_BASE_URL, LLM_API_KEY and LLM_MODEL together; only "
                               f"{', '.join(_llm_set)} is set (for Ollama, any LLM_API_KEY, e.g. ollama)")
if LLM_BASE_URL and urlsplit(LLM_BASE_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"LLM_BASE_URL must be an http(s) URL, not {LLM_BASE_URL!r}")
LLM_ENABLED = bool(_llm_set)
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 8.0)  # one model call
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 1)  # per call, within the turn's budget
LLM_TURN_BUDGET = env_float("LLM_TURN_BUDGET", 15.0)  # the whole agent part of a turn, tool rounds included
LLM_MAX_STEPS = env_int("LLM_MAX_STEPS", 4, minimum=1)  # model calls per turn
LLM_DAILY_TOKENS = env_int("LLM_DAILY_TOKENS", 50_000)  # per user and day (0: no agent)
# Turns per process that may wait on the model at once; the next get the rules' reply at once. Each
# waiting turn holds a thread (not its transaction: healthagent/upstream.py): the rest stay for other users.
LLM_CONCURRENCY = env_int("LLM_CONCURRENCY", 4, minimum=1)
LLM_BREAKER_FAILURES = env_int("LLM_BREAKER_FAILURES", 3, minimum=1)
LLM_BREAKER_COOLDOWN = env_float("LLM_BREAKER_COOLDOWN", 30.0)
CACHE_TTL_AGENT = env_int("CACHE_TTL_AGENT", 1800, minimum=1)
# A model on the same endpoint that accepts images (often LLM_MODEL itself, e.g. gpt-4o-mini): a photo
# of a meal then becomes a proposed diary entry (conversations/photos.py). Empty: photos get the
# one-line "I read text only". The largest photo fetched from Telegram and sent to it, in bytes.
LLM_VISION_MODEL = os.environ.get("LLM_VISION_MODEL", "").strip()
if LLM_VISION_MODEL and not LLM_ENABLED:
    raise ImproperlyConfigured("LLM_VISION_MODEL is a model on LLM_BASE_URL: set LLM_BASE_URL, LLM_API_KEY and "
                               "LLM_MODEL too (or leave LLM_VISION_MODEL empty)")
LLM_VISION_MAX_BYTES = env_int("LLM_VISION_MAX_BYTES", 4_000_000, minimum=10_000)

# --- Telegram ------------------------------------------------------------------------------------
# Turns one user may take per minute (conversations/limits.py): the next one is answered "slow down",
# the ones after it, while the flood goes on, not at all.
BOT_TURNS_PER_MINUTE = env_int("BOT_TURNS_PER_MINUTE", 20, minimum=1)
TELEGRAM_WEBHOOK_SECRET = os.environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
TELEGRAM_BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
# The Bot API server `telegram_webhook` and `runbot` call; tests point it at a fake one.
TELEGRAM_API_URL = (os.environ.get("TELEGRAM_API_URL", "").strip() or "https://api.telegram.org").rstrip("/")
if urlsplit(TELEGRAM_API_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"TELEGRAM_API_URL must be an http(s) URL, not {TELEGRAM_API_URL!r}")
if TELEGRAM_WEBHOOK_SECRET:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", TELEGRAM_WEBHOOK_SECRET):
        raise ImproperlyConfigured(
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        )
elif not DEBUG:
    raise ImproperlyConfigured(
        "TELEGRAM_WEBHOOK_SECRET is not set. Set it (and pass it as secret_token to setWebhook), "
        "or set DJANGO_DEBUG=true for local development."
    )

# --- Outgoing messages: the worker and the scheduler (docs/ARCHITECTURE.md §9) -------------------
# Messages a second every worker together may send (Telegram allows about 30 across all chats).
OUTGOING_PER_SECOND = env_int("OUTGOING_PER_SECOND", 25, minimum=1)
# A worker's claim on a message before it starts sending (seconds; then another worker takes it),
# and how long a message may stay "sending" before it counts as uncertain (longer than any request).
OUTGOING_CLAIM_LEASE = env_float("OUTGOING_CLAIM_LEASE", 60.0)
OUTGOING_SENDING_LEASE = env_float("OUTGOING_SENDING_LEASE", 120.0)
# Celery's broker (beat → worker wake-ups only: every message and reminder lives in the database, so
# a lost broker message delays a delivery by one beat period, never loses it). Default: REDIS_URL.
# kombu spells a unix socket redis+socket://; the embedded default's server is the broker too.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip() or (
    REDIS_URL.replace("unix://", "redis+socket://", 1) if REDIS_URL else
    REDIS_URL_EFFECTIVE.replace("unix://", "redis+socket://", 1) if REDIS_URL_EFFECTIVE.startswith("unix://") else "")
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# How often beat asks for a pass: due reminders fired (seconds), due messages delivered (seconds).
REMINDER_TICK_SECONDS = env_float("REMINDER_TICK_SECONDS", 15.0)
DELIVERY_TICK_SECONDS = env_float("DELIVERY_TICK_SECONDS", 5.0)
# The worker service's own /metrics (its delivery counters), on this port; 0: none.
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)
# A file each finished pass touches (the worker's health check reads its age); empty: none.
WORKER_HEARTBEAT_FILE = os.environ.get("WORKER_HEARTBEAT_FILE", "").strip()
# Beat writes its schedule file after every task it sends: its age is the scheduler's health check.
CELERY_BEAT_SYNC_EVERY = 1

# --- Metrics (GET /metrics, healthagent/metrics.py) ----------------------------------------------
# A scraper is let in by a bearer token, or by its address (loopback unless configured).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
METRICS_ALLOWED_IPS = os.environ.get("METRICS_ALLOWED_IPS", "").strip() or "127.0.0.1,::1"
METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_IPS", METRICS_ALLOWED_IPS,
                                     "comma-separated addresses or networks (10.0.0.0/8)")

# --- Logging -------------------------------------------------------------------------------------
# One format for every line the service writes (Django's own loggers included), on stderr. Lines
# logged while a request is served carry its id ([req=…]); the webhook's carry the update id too.
# Known secrets (FDC key, webhook secret, bot token, passwords in URLs) are redacted in every line.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
# SQL statements taking this many milliseconds or more are logged at WARNING with their duration
# (logger healthagent.sql); 0 logs every statement.
SLOW_QUERY_MS = env_int("SLOW_QUERY_MS", 100)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "healthagent.logging.ContextFilter"}},
    "formatters": {"service": {"()": "healthagent.logging.ServiceFormatter", "fmt": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "service", "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give these their own handlers and formats: send them through ours.
        "django": {"handlers": [], "level": "NOTSET", "propagate": True},
        "django.server": {"handlers": [], "level": "NOTSET", "propagate": True},
        # Every statement with its parameters (user text) at DEBUG: too much, even for DEBUG.
        "django.db.backends": {"level": "WARNING"},
        # urllib3 warns "Retrying … /v1/foods/search?query=…" with the user's words in the URL; the FDC
        # client logs each failure itself, with a hash of the query (nutrition/fdc.py).
        "urllib3.connectionpool": {"level": "ERROR"},
        # The openai SDK logs each request's messages (the user's words and data) at DEBUG, its HTTP
        # client each request at INFO; agent/provider.py logs each failure itself, by kind only.
        "openai": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
    },
}
