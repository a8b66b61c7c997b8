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
    assert int(response["X-Bench-Us"]) >= 0 and int(response["X-Bench-Cpu-Us"]) >= 0


def test_bench_settings_put_the_middleware_first(settings):
    import importlib

    bench_settings = importlib.import_module("bench.settings")
    assert bench_settings.MIDDLEWARE[0] == "bench.middleware.count_sql"
    assert bench_settings.MIDDLEWARE[1:] == settings.MIDDLEWARE
