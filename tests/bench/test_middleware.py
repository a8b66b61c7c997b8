"""The bench-only middleware that counts SQL per request (bench/middleware.py)."""

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory

from bench.middleware import SQLCounter, count_sql
from conversations.models import ProcessedUpdate
from memory.models import Profile


@pytest.mark.django_db
def test_counts_statements_and_selects():
    counter = SQLCounter()
    with connection.execute_wrapper(counter):
        ProcessedUpdate.objects.filter(pk=1).exists()
        ProcessedUpdate.objects.create(pk=1)
        list(ProcessedUpdate.objects.all())
    assert (counter.statements, counter.selects) == (3, 2)


@pytest.mark.django_db
def test_middleware_reports_in_headers():
    def view(request):
        Profile.objects.filter(pk=1).exists()
        return HttpResponse("ok")

    response = count_sql(view)(RequestFactory().post("/", HTTP_X_BENCH_KIND="food"))
    assert response["X-Bench-SQL"] == "1 1"
    assert response["X-Bench-Kind"] == "food"
    assert response["X-Bench-Redis"] == "0" and response["X-Bench-Cache"] == "0 0 0 0 0 0"
    assert int(response["X-Bench-Us"]) >= 0 and int(response["X-Bench-Cpu-Us"]) >= 0


def test_bench_settings_put_the_middleware_first(settings):
    import importlib

    bench_settings = importlib.import_module("bench.settings")
    assert bench_settings.MIDDLEWARE[0] == "bench.middleware.count_sql"
    assert bench_settings.MIDDLEWARE[1:] == settings.MIDDLEWARE


@pytest.mark.django_db
def test_middleware_counts_redis_round_trips_and_cache_reads():
    from django.core.cache import cache

    from caching.keys import user_memory_key

    def view(request):
        cache.get(user_memory_key(1))  # a miss
        cache.set(user_memory_key(1), {"a": 1})
        cache.get(user_memory_key(1))  # a hit
        cache.set_many({user_memory_key(2): 1, user_memory_key(3): 2})  # one pipeline
        return HttpResponse("ok")

    response = count_sql(view)(RequestFactory().post("/", HTTP_X_BENCH_COLD="u"))
    assert response["X-Bench-Redis"] == "4"
    assert response["X-Bench-Cache"] == "1 1 0 0 0 0"
    assert response["X-Bench-Cold"] == "u"
