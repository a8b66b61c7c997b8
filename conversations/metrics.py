"""Bot turns as Prometheus sees them (GET /metrics): how long each kind of turn takes.

A turn's kind is its command (`food`, `log`, …), `text` for free text, `unknown` for a command the
bot does not have, `ignored` for an update it does not handle — a small, fixed set of labels: user
text never becomes one.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Histogram

from .commands import COMMANDS

KINDS = (*COMMANDS, "text", "unknown", "ignored")
TURN_DURATION = Histogram(
    "healthagent_turn_duration_seconds", "Bot turns (one Telegram update, end to end), by kind", ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def kind_of(update: Any) -> str:
    message = update.get("message") if isinstance(update, dict) else None
    text = message.get("text") if isinstance(message, dict) else None
    if not isinstance(text, str):
        return "ignored"
    text = text.strip()
    if not text.startswith("/"):
        return "text"
    name = text[1:].partition(" ")[0].split("@", 1)[0].lower()
    return name if name in COMMANDS else "unknown"


def timed_turn(handle: Any, update: Any) -> dict:
    """`handle(update)` (conversations.updates.handle_update), its duration recorded by kind."""
    started = time.perf_counter()
    try:
        return handle(update)
    finally:
        TURN_DURATION.labels(kind_of(update)).observe(time.perf_counter() - started)
