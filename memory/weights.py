"""The weight history as user memory caches it ([ISO time, kg], newest first): the changes /weight
and "how has my weight changed?" report."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class Weighed:
    at: datetime.datetime
    kg: float


def history(rows: list) -> list[Weighed]:
    return [Weighed(datetime.datetime.fromisoformat(at), float(kg)) for at, kg in rows]


def change_over(entries: list[Weighed], days: int, *, now: datetime.datetime) -> tuple[float, Weighed] | None:
    """(latest − the weight then, that entry) for the last entry at least `days` old, else for the
    oldest entry within them (a shorter span, which the reply names); None with fewer than two."""
    if len(entries) < 2:
        return None
    cutoff = now - datetime.timedelta(days=days)
    then = next((entry for entry in entries[1:] if entry.at <= cutoff), None)
    if then is None:
        then = entries[-1]
    return round(entries[0].kg - then.kg, 1), then
