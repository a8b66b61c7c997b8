"""GET /metrics: Prometheus text a scraper can parse; per-process cache counters that sum() adds up over
targets, and the fleet's totals (as cache_stats shows them) as gauges under names that say so."""

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
from tests.redis_server import redis_server, use_redis  # noqa: F401  (fixtures)

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
        for field in counts.keys() - {"hit_rate"}:
            assert samples[f"healthagent_cache_fleet_{field}"][(("namespace", namespace),)] == counts[field], (namespace, field)
            compared += 1
    assert compared >= 18
    # This process's own counters: what it counted since it started, whatever the fleet's stats hash says.
    local = stats.local_counts()
    for namespace, counts in local.items():
        for field in stats.FIELDS:
            got = samples.get(f"healthagent_cache_{field}_total", {}).get((("namespace", namespace),), 0)
            assert got == counts[field], (namespace, field)
    assert not any(name.startswith("healthagent_cache_fleet_") and name.endswith("_total") for name in samples)
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


_OTHER_PROCESS = """
import django
django.setup()
from django.core.cache import cache
from prometheus_client import generate_latest
from caching.api import sync_process_counters, usda_key
key = usda_key("metrics {n}", 5)
cache.get(key)
cache.set(key, [{{"fdcId": {n}}}])
for _ in range(3):
    cache.get(key)
sync_process_counters()
print(generate_latest().decode())
"""  # its at-exit flush delivers its counts to the fleet's stats hash


def _process_samples(text: str) -> dict[str, dict[tuple, float]]:
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.mark.redis_server
def test_summing_the_per_process_counters_over_targets_gives_the_fleet_total(redis_server, use_redis, client):
    """Two processes, each scraped as a target: sum() of their per-process counters is the fleet's
    figure (the gauge), not twice it, as re-exporting the fleet's totals from every target made it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    use_redis(redis_server.url)
    assert stats.reset()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "ENABLE_CACHE", "REDIS_CLUSTER_NODES", "REDIS_SENTINELS")}
    env.update(REDIS_URL=redis_server.url, DJANGO_SETTINGS_MODULE="healthagent.settings",
               DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY", "x"), TELEGRAM_WEBHOOK_SECRET="metrics-test")
    root = Path(__file__).resolve().parents[1]
    runs = [subprocess.run([sys.executable, "-c", _OTHER_PROCESS.format(n=n)], cwd=root, env=env,
                           capture_output=True, text=True, timeout=60) for n in (1, 2)]
    assert [run.returncode for run in runs] == [0, 0], [run.stderr[-2000:] for run in runs]
    targets = [_process_samples(run.stdout) for run in runs]

    usda = (("namespace", "usda"),)
    for field, each in (("hits", 3), ("misses", 1), ("sets", 1)):
        assert [t[f"healthagent_cache_{field}_total"][usda] for t in targets] == [each, each]
    fleet = scrape(client)  # any target answers with the fleet's totals (this process made no usda calls)
    for field in ("hits", "misses", "sets"):
        per_target = [t[f"healthagent_cache_{field}_total"][usda] for t in targets]
        assert sum(per_target) == fleet[f"healthagent_cache_fleet_{field}"][usda], field


def test_outgoing_messages_by_status_and_delivery_outcomes(client):
    import datetime

    from django.utils import timezone

    from conversations.delivery import metrics as delivery_metrics
    from conversations.models import OutgoingMessage
    from memory.models import Profile

    Profile.objects.create(pk=42)
    for status in ("queued", "queued", "sent", "failed"):
        OutgoingMessage.objects.create(user_id=42, chat_id=42, text="hi", status=status,
                                       due_at=timezone.now() - datetime.timedelta(seconds=30))
    before = delivery_metrics.DELIVERIES.labels("blocked")._value.get()
    delivery_metrics.count("blocked")
    samples = scrape(client)
    by_status = {dict(labels)["status"]: value for labels, value in samples["healthagent_outgoing_messages"].items()}
    assert by_status == {"queued": 2, "claimed": 0, "sending": 0, "sent": 1, "failed": 1, "dropped": 0}
    assert samples["healthagent_outgoing_oldest_due_seconds"][()] >= 30
    assert samples["healthagent_outgoing_deliveries_total"][(("outcome", "blocked"),)] == before + 1
