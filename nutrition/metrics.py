"""FoodData Central calls as Prometheus sees them (GET /metrics): how many, how they ended, how long."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# ok | refused (401/403: the key) | rate_limited (429) | http_error (other statuses) | invalid (not
# the JSON we expect) | network (no answer: refused connection, timeout)
OUTCOMES = ("ok", "refused", "rate_limited", "http_error", "invalid", "network")

FDC_REQUESTS = Counter("healthagent_fdc_requests", "FoodData Central searches, by outcome", ["outcome"])
FDC_DURATION = Histogram(
    "healthagent_fdc_request_duration_seconds", "FoodData Central search duration, retries included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
for _outcome in OUTCOMES:
    FDC_REQUESTS.labels(_outcome)  # every outcome present from the start, at 0


def observe(outcome: str, seconds: float) -> None:
    FDC_REQUESTS.labels(outcome).inc()
    FDC_DURATION.observe(seconds)
