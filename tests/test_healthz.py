"""/healthz: the database decides the status; a cache that is down is "degraded", never an outage."""

import pytest
from django.db import OperationalError, connections

from tests.redis_server import connect_attempts, redis_server, use_redis  # noqa: F401

pytestmark = pytest.mark.django_db


def test_all_up_is_200_with_every_part_named(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok", "breaker": "closed"}
    assert "no-cache" in response["Cache-Control"]


def test_one_round_trip_to_each_server(client, django_assert_num_queries, redis_commands):
    with django_assert_num_queries(1):
        response = client.get("/healthz")
    assert response.json()["cache"] == "ok"
    assert redis_commands == ["PING"]


@pytest.mark.redis_server
def test_redis_stopped_is_200_with_the_cache_degraded(client, redis_server, use_redis):
    use_redis(redis_server.url)
    assert client.get("/healthz").json()["cache"] == "ok"

    redis_server.stop()
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "degraded", "breaker": "closed"}


@pytest.mark.redis_server
def test_with_the_breaker_open_healthz_does_not_touch_redis(client, redis_server, use_redis, connect_attempts):
    cache = use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=600)
    redis_server.stop()
    cache.get("user_memory:{1}")  # fails once: the breaker opens
    assert cache.breaker.state == "open"
    before = connect_attempts.count

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "degraded", "breaker": "open"}
    assert connect_attempts.count == before


@pytest.mark.redis_server
def test_after_the_cool_down_healthz_is_the_probe_that_closes_the_breaker(client, redis_server, use_redis):
    cache = use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=600)
    redis_server.stop()
    cache.get("user_memory:{1}")
    redis_server.start()
    cache.breaker.cooldown = 0  # the cool-down has passed

    response = client.get("/healthz")

    assert response.json() == {"database": "ok", "cache": "ok", "breaker": "closed"}


def test_caching_disabled_is_reported_as_disabled(client, settings):
    settings.CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "disabled", "breaker": "closed"}


def test_database_unreachable_is_503(client, monkeypatch):
    def refuse(self):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(type(connections["default"]), "ensure_connection", refuse)
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "error", "cache": "ok", "breaker": "closed"}


def test_only_get_and_head(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
