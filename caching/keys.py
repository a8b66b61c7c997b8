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
SCHEMA_VERSION = 4

USER_MEMORY = "user_memory"
USDA = "usda"
CONVERSATION_HISTORY = "conversation_history"
PROGRESS = "progress"
AGENT = "agent"
NAMESPACES = (USER_MEMORY, USDA, CONVERSATION_HISTORY, PROGRESS, AGENT)

# Keys outside our namespaces (Django's own cache users, tooling, the contract suite) are counted
# together, so the stats hash stays bounded whatever callers invent.
OTHER = "other"
_KNOWN = frozenset(NAMESPACES)


def user_memory_key(user_id: int) -> str:
    return f"{USER_MEMORY}:{{{_user_id(user_id)}}}"


def conversation_history_key(user_id: int) -> str:
    return f"{CONVERSATION_HISTORY}:{{{_user_id(user_id)}}}"


# The periods /week and /month chart: one entry each per user (the chart of the latest inputs).
PROGRESS_PERIODS = ("week", "month")


def progress_key(user_id: int, period: str) -> str:
    if period not in PROGRESS_PERIODS:
        raise ValueError(f"period must be one of {PROGRESS_PERIODS}, not {period!r}")
    return f"{PROGRESS}:{{{_user_id(user_id)}}}:{period}"


def _progress_week_key(user_id: int) -> str:
    return progress_key(user_id, "week")


def _progress_month_key(user_id: int) -> str:
    return progress_key(user_id, "month")


def usda_key(normalised_query: str, limit: int) -> str:
    # User text never enters a key as is: hashing keeps keys printable ASCII and short whatever
    # the user typed (spaces, emoji, 4000 characters).
    digest = hashlib.sha1(normalised_query.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{USDA}:{digest}:{int(limit)}"


def agent_answer_key(*, question: str, model: str, prompt_version: str, day: str, user_id: int | None,
                     context: dict[str, str]) -> str:
    """The agent's answer to `question` (normalised) from `model` under `prompt_version` on the
    user's local `day`, given the versions of the context it read (`context`: {entry: version}).

    An answer that read no context is shared by every user (`user_id` None); any context makes it
    the user's own. A change of any entry it read changes its version, so the key: a miss with
    no delete (docs/ARCHITECTURE.md, "The agent")."""
    scope = "-" if user_id is None else str(_user_id(user_id))
    parts = [question, model, prompt_version, day, scope, *(f"{name}={context[name]}" for name in sorted(context))]
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{AGENT}:{digest}"


def agent_flight_key(*, question: str, model: str, prompt_version: str, day: str) -> str:
    """The single-flight lock of everyone asking `question` at once (whoever they are)."""
    digest = hashlib.sha1("\x1f".join((question, model, prompt_version, day)).encode("utf-8"),
                          usedforsecurity=False).hexdigest()
    return f"{AGENT}:flight:{digest}"


def agent_budget_key(user_id: int, day: str) -> str:
    """The model tokens `user_id` spent on `day` (their daily budget)."""
    return f"{AGENT}:budget:{{{_user_id(user_id)}}}:{day}"


# Every per-user key, so invalidating a user needs no SCAN (and may run inside a request).
USER_KEY_FUNCTIONS: tuple[Callable[[int], str], ...] = (user_memory_key, conversation_history_key,
                                                        _progress_week_key, _progress_month_key)


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
