"""Every cache key the application uses, one function per data set (ARCHITECTURE.md §5).

A key's first segment is its namespace: stats are kept per namespace and `cache_invalidate
--namespace` deletes by it. Call sites pass these keys to `django.core.cache.cache`; the backend adds
KEY_PREFIX, the value-schema version below and Django's VERSION in one place (`make_key`), giving
`ha:s3:1:user_memory:{42}` in Redis. The braces are literal: Redis Cluster hashes only the part in
braces, so all of one user's keys land in one slot and a Lua script may touch them together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

# Bump when the shape of any cached value changes: every key changes with it, so a deploy never
# reads a value written by the previous code (old entries simply expire).
SCHEMA_VERSION = 3

USER_MEMORY = "user_memory"
USDA = "usda"
CONVERSATION_HISTORY = "conversation_history"
NAMESPACES = (USER_MEMORY, USDA, CONVERSATION_HISTORY)

# Keys outside our namespaces (Django's own cache users, tooling, the contract suite) are counted
# together, so the stats hash stays bounded whatever callers invent.
OTHER = "other"
_KNOWN = frozenset(NAMESPACES)


def user_memory_key(user_id: int) -> str:
    return f"{USER_MEMORY}:{{{_user_id(user_id)}}}"


def conversation_history_key(user_id: int) -> str:
    return f"{CONVERSATION_HISTORY}:{{{_user_id(user_id)}}}"


def usda_key(normalised_query: str, limit: int) -> str:
    # User text never enters a key as is: hashing keeps keys printable ASCII and short whatever
    # the user typed (spaces, emoji, 4000 characters).
    digest = hashlib.sha1(normalised_query.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{USDA}:{digest}:{int(limit)}"


# Every per-user key, so invalidating a user needs no SCAN (and may run inside a request).
USER_KEY_FUNCTIONS: tuple[Callable[[int], str], ...] = (user_memory_key, conversation_history_key)


def user_keys(user_id: int) -> list[str]:
    return [key_function(user_id) for key_function in USER_KEY_FUNCTIONS]


def namespace_of(key: object) -> str:
    """The namespace of an application key (as passed to the cache, before the prefix);
    `OTHER` for keys that are not ours."""
    head = (key if type(key) is str else str(key)).partition(":")[0]
    return head if head in _KNOWN else OTHER


def _user_id(user_id: int) -> int:
    # bool is an int; a user id of True is a bug, not user 1.
    if type(user_id) is not int:
        raise TypeError(f"user_id must be an int, not {type(user_id).__name__}")
    return user_id


def send_pace_key(window: int) -> str:
    """The fleet's count of outgoing Telegram messages in one pacing window (caching.ops.pacing)."""
    return f"pace:{int(window)}"
