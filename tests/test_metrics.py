"""GET /metrics: Prometheus text a scraper can parse, with the fleet's cache counts as cache_stats shows them."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from caching.backend import stats
from caching.models import PendingInvalidation
from conversations.metrics import TURN_DURATION
from healthagent.errors import ApplicationError
from nutrition.metrics import FDC_DURATION, FDC_REQUESTS
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    """{metric sample name: {labels as sorted tuple: value}}, parsed by prometheus_client's own parser."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_cache_counts_are_the_ones_cache_stats_json_prints(bot, client):
    assert stats.reset()
    for text in ("/start", "/set weight_kg 70", "/profile", "/food banana", "/food banana", "hello"):
        bot.say(text)
    samples = scrape(client)
    out = StringIO()
    call_command("cache_stats", "--json", stdout=out)
    report = json.loads(out.getvalue())

    compared = 0
    for namespace, counts in report["namespaces"].items():
        for field in stats.FIELDS:
            assert samples[f"healthagent_cache_{field}_total"][(("namespace", namespace),)] == counts[field], (namespace, field)
            compared += 1
    assert compared >= 18
    # The conversation itself was cached: the comparison is not of zeros.
    assert report["namespaces"]["conversation_history"]["hits"] >= 4
    assert samples["healthagent_cache_redis_up"][()] == 1
    assert samples["healthagent_cache_breaker_state"][(("state", "closed"),)] == 1
    assert samples["healthagent_cache_breaker_state"][(("state", "open"),)] == 0


def test_outbox_size_counts_the_invalidations_waiting(client):
    PendingInvalidation.objects.create(key="user_memory:{1}")
    PendingInvalidation.objects.create(key="user_memory:{2}")
    assert scrape(client)["healthagent_cache_outbox_size"][()] == 2


def test_turn_latency_is_recorded_by_kind(bot, client):
    def count(kind: str) -> float:
        return scrape(client).get("healthagent_turn_duration_seconds_count", {}).get((("kind", kind),), 0)

    before_food, before_text = count("food"), count("text")
    bot.say("/food apple")
    bot.say("/food pear")
    bot.say("how are you")
    assert count("food") == before_food + 2
    assert count("text") == before_text + 1
    assert TURN_DURATION.labels("food")._sum.get() > 0


def test_fdc_calls_are_counted_by_outcome_with_their_latency(client, fake_fdc):
    from nutrition.fdc import get_client

    def value(name: str, labels: tuple = ()) -> float:
        return scrape(client).get(name, {}).get(labels, 0)

    ok, refused = (("outcome", "ok"),), (("outcome", "refused"),)
    before_ok, before_refused = value("healthagent_fdc_requests_total", ok), value("healthagent_fdc_requests_total", refused)
    before_count = value("healthagent_fdc_request_duration_seconds_count")
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    fake_fdc.add(status=403, body={"error": {"code": "API_KEY_INVALID"}})
    assert get_client().search("banana", page_size=5)[0]["description"] == "Bananas, raw"
    with pytest.raises(ApplicationError):
        get_client().search("kiwi", page_size=5)
    assert value("healthagent_fdc_requests_total", ok) == before_ok + 1
    assert value("healthagent_fdc_requests_total", refused) == before_refused + 1
    assert value("healthagent_fdc_request_duration_seconds_count") == before_count + 2
    assert FDC_REQUESTS.labels("ok")._value.get() >= 1 and FDC_DURATION._sum.get() > 0


def test_only_the_token_or_an_allowed_address_gets_in(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9",
                      HTTP_AUTHORIZATION="Bearer scrape-token-0123456789").status_code == 200
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1: loopback is allowed

    import ipaddress
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
