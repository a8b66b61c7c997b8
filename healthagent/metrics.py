"""GET /metrics: Prometheus text format, for a scraper named by the environment.

Access: a request carrying `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time), or
one from an address in METRICS_ALLOWED_IPS (addresses or networks; default: loopback only). Anyone
else gets 403: the counts say how the bot is used.

Two parts: the fleet-wide figures (caching/ops/metrics.py, conversations/delivery/metrics.py: gauges, the same numbers from any worker)
and this process's own counters — cache events per namespace, FDC calls and their latency, turn latency
by kind, outgoing deliveries by outcome, process figures — which `sum()` adds up over the scraped targets. With several gunicorn
workers, set PROMETHEUS_MULTIPROC_DIR to an empty directory and prometheus_client sums the workers' own
figures too (its multiprocess mode); without it each scrape sees the worker it reached.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from caching.api import FleetCacheCollector, sync_process_counters
from conversations.delivery.metrics import OutgoingQueueCollector

_fleet = CollectorRegistry(auto_describe=True)
_fleet.register(FleetCacheCollector())
_fleet.register(OutgoingQueueCollector())


def allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponseForbidden("metrics: send Authorization: Bearer <METRICS_TOKEN> or scrape from METRICS_ALLOWED_IPS\n")
    sync_process_counters()  # this process's cache counts up to now (other workers' after their flush)
    return HttpResponse(generate_latest(_fleet) + generate_latest(_process_registry()), content_type=CONTENT_TYPE_LATEST)


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY
