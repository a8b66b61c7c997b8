"""What the hit-path benchmark compares (bench/hitpath.py, bench/hitpath_setup.py): variants — one way
each of reading the same entry — and the patches some of them need around a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

RAW = "raw"


@dataclass
class Variant:
    label: str
    call: Callable[[], Any]
    calls_share: float = 1.0  # of --calls: the slow sources get fewer
    context: Callable[[], Any] = nullcontext  # entered around a whole batch (patches cost nothing per call)
    # False for a source that sleeps (the fake FDC's latency): an idle vCPU makes the calls after it
    # slow, so it is timed after a repetition's rounds instead of inside them (bench/hitpath.measure).
    interleaved: bool = True


@dataclass
class Namespace:
    name: str
    key: str
    value_bytes: int
    variants: dict[str, Variant] = field(default_factory=dict)
    goal_variant: str = "ours_selector"
    stored_format: str = "json"
    json_bytes: int = 0


@contextmanager
def patched(module: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def cache_disabled():
    """The selectors exactly as ENABLE_CACHE=false runs them: read_through calls load() straight away."""
    from caching.consistency import reads

    return patched(reads, "current_backend", lambda: None)


def stats_off():
    """The hit without per-namespace counters: every `stats.record` call does nothing."""
    from caching.backend import stats

    return patched(stats, "record", lambda namespace, event, n=1: None)


@contextmanager
def in_turn() -> Iterator[None]:
    """Reads as a bot turn makes them: the outbox check came with the claim (caching/consistency/fence.py), so
    the read itself asks the database nothing. (Outside a turn each read asks with one EXISTS.)"""
    from caching.consistency import fence

    with fence.scope():
        fence.observe(pending=False)
        yield


@contextmanager
def both(first: Callable[[], Any], second: Callable[[], Any]) -> Iterator[None]:
    with first(), second():
        yield
