import os
import threading

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache

from caching.backend import stats
from tests import redis_guard
from tests.nutrition.fakes import TEST_API_KEY, FakeFDC
from tests.telegram import Bot


# Processes the tests start (manage.py, gunicorn) must not read a developer's .env (healthagent/env.py).
os.environ["HEALTHAGENT_ENV_FILE"] = ""


@pytest.fixture(autouse=True, scope="session")
def _no_stats_flusher():
    """The stats flusher would write to Redis on its own schedule, racing tests that count commands
    or mock the client: tests flush by hand (stats.flush), and subprocesses at exit."""
    stats.stop_flusher()


def pytest_sessionstart(session):
    """Before the first test: never empty a Redis database holding someone else's keys."""
    url = django_settings.REDIS_URL
    if url:
        reason = redis_guard.refusal(url)
        if reason:
            pytest.exit(reason, returncode=pytest.ExitCode.USAGE_ERROR)
        redis_guard.claim(url)


# The database settings name before pytest-django swaps in the test database's (django_db_setup).
_CONFIGURED_DATABASE = django_settings.DATABASES["default"]["NAME"]


@pytest.fixture(autouse=True, scope="session")
def _replay_checked_once(django_db_setup, django_db_blocker):
    """A process's first connection to a Redis dataset checks whether recent invalidations must be
    replayed into it, which may read the database (caching/consistency/replay.py): done once here,
    where the database may be read, not inside whichever test happens to connect first. (Emptying
    the database between tests does not change the dataset: the check is not repeated.)

    When no selected test uses a database (tests/fleet alone: its processes have databases of their
    own), pytest-django sets up none, and this process would read the configured one — perhaps a
    developer's, perhaps not migrated. It then has nothing to replay from, and skips the check."""
    from django.db import connection

    if connection.settings_dict["NAME"] == _CONFIGURED_DATABASE:
        django_settings.CACHES["default"].setdefault("OPTIONS", {})["REPLAY_WINDOW"] = 0
        return
    with django_db_blocker.unblock():
        cache.ping()  # every primary: a Cluster's too


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts and ends with an empty cache, real Redis or embedded."""
    _clear()
    yield
    _clear()


def _clear():
    cache.clear()
    if django_settings.REDIS_URL:
        redis_guard.claim(django_settings.REDIS_URL)


@pytest.fixture
def webhook_secret(settings):
    settings.TELEGRAM_WEBHOOK_SECRET = "test-secret_123"
    return settings.TELEGRAM_WEBHOOK_SECRET


@pytest.fixture
def bot(client, webhook_secret, settings):
    """Talks to the webhook like Telegram; food lookups use the offline sample data."""
    settings.NUTRITION_PROVIDER = "sample"
    # Scripted conversations send many turns a minute; the turn rate has its own tests (test_chats_and_limits.py).
    settings.BOT_TURNS_PER_MINUTE = 100_000
    return Bot(client, webhook_secret)


@pytest.fixture
def fake_fdc(settings):
    """A running fake FDC with the USDA_* settings pointed at it (small timeouts, 2 retries)."""
    server = FakeFDC()
    settings.USDA_API_URL = server.url
    settings.USDA_API_KEY = TEST_API_KEY
    settings.USDA_CONNECT_TIMEOUT = 1.0
    settings.USDA_READ_TIMEOUT = 2.0
    settings.USDA_RETRIES = 2
    settings.USDA_MAX_RETRY_AFTER = 1.0
    settings.NUTRITION_PROVIDER = "usda"
    yield server
    server.close()


@pytest.fixture
def redis_commands(monkeypatch):
    """The Redis commands this thread sends from now on (the stats flusher has its own thread)."""
    sent = []
    me = threading.get_ident()
    original = redis.Redis.execute_command

    def counting(self, *args, **options):
        if threading.get_ident() == me:
            sent.append(args[0])
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    # A Redis Cluster client is not a redis.Redis: count what it sends too (once: it calls no Redis).
    original_cluster = redis.RedisCluster.execute_command

    def counting_cluster(self, *args, **options):
        if threading.get_ident() == me:
            sent.append(args[0])
        return original_cluster(self, *args, **options)

    monkeypatch.setattr(redis.RedisCluster, "execute_command", counting_cluster)
    return sent


@pytest.fixture
def redis_round_trips(monkeypatch):
    """The round trips this thread makes to Redis from now on: per round trip, the commands it carried
    (a pipeline is one round trip however many commands it sends)."""
    sent = []
    me = threading.get_ident()
    single = redis.Redis.execute_command
    pipelined = redis.client.Pipeline._execute_pipeline

    def one(self, *args, **options):
        if threading.get_ident() == me:
            sent.append([args[0]])
        return single(self, *args, **options)

    def many(self, connection, commands, raise_on_error):
        if threading.get_ident() == me:
            sent.append([command[0][0] for command in commands])
        return pipelined(self, connection, commands, raise_on_error)

    monkeypatch.setattr(redis.Redis, "execute_command", one)
    monkeypatch.setattr(redis.client.Pipeline, "_execute_pipeline", many)
    return sent
