"""The circuit breaker in front of Redis (ARCHITECTURE.md §5.4): a dead Redis costs speed, never a timeout per call.

closed     every call goes to Redis. `failure_threshold` consecutive connection failures or
           timeouts open the breaker.
open       calls do not touch the network: reads miss, writes do nothing (the backend counts them
           as "bypassed"). After `cooldown` seconds the next call is let through as a probe.
half-open  one call probes while the others still bypass. Success closes the breaker, failure
           opens it for another cool-down. A probe that never reports back (its caller raised
           before reaching Redis) stops blocking after one cool-down.

One breaker per Redis location per process, shared by every thread and cache alias using it.
Only closed→open and back are logged at WARNING (one line per outage and one per recovery);
the probes in between are logged at DEBUG.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal

logger = logging.getLogger(__name__)

State = Literal["closed", "open", "half-open"]
CLOSED: State = "closed"
OPEN: State = "open"
HALF_OPEN: State = "half-open"


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int = 3, cooldown: float = 5.0) -> None:
        self.name = name
        self.failure_threshold = max(1, int(failure_threshold))
        self.cooldown = float(cooldown)
        self.state: State = CLOSED
        self.failures = 0  # consecutive
        self.last_error = ""
        self._changed_at = time.monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """May this call go to Redis? Lock-free while closed: the hit path pays one comparison."""
        if self.state is CLOSED:
            return True
        with self._lock:
            if self.state is CLOSED:
                return True
            if time.monotonic() - self._changed_at < self.cooldown:
                return False
            # Open for a full cool-down, or a probe went missing: this call probes.
            self._set(HALF_OPEN)
            logger.debug("cache breaker for %s half-open: probing", self.name)
            return True

    def succeeded(self) -> None:
        if self.failures or self.state is not CLOSED:  # attribute reads only on the hot path
            with self._lock:
                self.failures = 0
                if self.state is not CLOSED:
                    self._set(CLOSED)
                    logger.warning("Redis at %s answers again: cache breaker closed, caching resumed", self.name)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}"
            if self.state is HALF_OPEN:
                self._set(OPEN)
                logger.debug("cache breaker for %s: probe failed (%s), open again", self.name, self.last_error)
            elif self.state is CLOSED and self.failures >= self.failure_threshold:
                self._set(OPEN)
                logger.warning(
                    "Redis at %s failed %d times in a row (%s): cache breaker open, the cache is bypassed "
                    "and probed again every %gs",
                    self.name, self.failures, self.last_error, self.cooldown,
                )

    def reset(self) -> None:
        with self._lock:
            self.failures = 0
            self.last_error = ""
            self._set(CLOSED)

    def _set(self, state: State) -> None:
        self.state = state
        self._changed_at = time.monotonic()


_breakers: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def breaker_for(location: str, *, name: str, failure_threshold: int, cooldown: float) -> CircuitBreaker:
    """The process-wide breaker for one Redis location (Django builds a backend per thread)."""
    with _registry_lock:
        breaker = _breakers.get(location)
        if breaker is None:
            breaker = _breakers[location] = CircuitBreaker(
                name, failure_threshold=failure_threshold, cooldown=cooldown
            )
        return breaker


def breaker_state(alias: str = "default") -> State:
    """This process's breaker state for a cache alias ("closed" when caching is disabled)."""
    from django.core.cache import caches

    breaker = getattr(caches[alias], "breaker", None)
    return breaker.state if breaker is not None else CLOSED
