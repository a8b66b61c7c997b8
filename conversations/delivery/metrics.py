"""Outgoing messages as Prometheus sees them (GET /metrics), by the conventions of
caching/ops/metrics.py:

- `healthagent_outgoing_deliveries_total{outcome}`: what this process's delivery passes did (sent,
  retry, rate_limited, blocked, failed, uncertain, dropped, lost_claim) — a per-process counter,
  summed over targets. The worker service is its own target (WORKER_METRICS_PORT).
- `healthagent_outgoing_messages{status}` and `healthagent_outgoing_oldest_due_seconds`: the queue
  in the database, the same from every target — gauges, read with max(), never summed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..models import OutgoingMessage
from . import queue

OUTCOMES = ("sent", "retry", "rate_limited", "blocked", "failed", "uncertain", "dropped", "lost_claim")
DELIVERIES = Counter("healthagent_outgoing_deliveries", "Outgoing messages handled by this process, by outcome",
                     ["outcome"])


def count(outcome: str, n: int = 1) -> None:
    DELIVERIES.labels(outcome).inc(n)


class OutgoingQueueCollector(Collector):
    """The queue's figures from the database at each scrape (two small aggregate queries)."""

    def describe(self) -> Iterator[Any]:
        return iter(())  # nothing before a scrape: no query at import

    def collect(self) -> Iterator[Any]:
        try:
            counts, age = queue.counts_by_status(), queue.oldest_queued_age()
        except DatabaseError:
            return
        family = GaugeMetricFamily("healthagent_outgoing_messages",
                                   "Outgoing messages in the database by status (fleet-wide: use max(), not sum())",
                                   labels=["status"])
        for status in OutgoingMessage.Status.values:
            family.add_metric([status], counts.get(status, 0))
        yield family
        yield GaugeMetricFamily("healthagent_outgoing_oldest_due_seconds",
                                "How long the oldest due, unsent message has waited (delivery lag; fleet-wide)",
                                value=age)
