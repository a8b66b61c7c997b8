"""The one start-up line: which Redis this process caches in, and whether it answered."""

from __future__ import annotations

import logging

from django.core.cache import caches

logger = logging.getLogger("caching")


def announce() -> None:
    cache = caches["default"]
    if not getattr(cache, "enabled", False):
        logger.info("cache: disabled (ENABLE_CACHE=false): no reads or writes, every lookup goes to the source")
        return
    if not hasattr(cache, "ping"):
        logger.info("cache: %s.%s (not the caching backend: no breaker, no stats)",
                    type(cache).__module__, type(cache).__qualname__)
        return
    if cache.embedded:
        where = "embedded in-process Redis (fakeredis; this process only)"
    else:
        where = f"Redis {cache.display_url}"
    answered, detail = cache.ping()
    if answered:
        logger.info("cache: %s %s", where, detail)
    else:
        logger.warning("cache: %s did not answer (%s): serving without the cache until it does", where, detail)
