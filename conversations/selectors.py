"""Cached reads of the conversation: the recent history the bot reads back every turn."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from caching.api import conversation_history_key, read_through_list

from .models import Message

# The cached entry holds this many messages; any limit up to it is served from the one entry.
HISTORY_MAX = 50


def history_row(*, id: int, role: str, content: str, created_at: datetime) -> dict:
    """A message as history holds it (the cached entry's shape; caching/backend/scripts.py places
    rows by it)."""
    return {"id": id, "role": role, "content": content, "created_at": created_at.isoformat(timespec="microseconds")}


def message_row(message: Message) -> dict:
    # A Role member on new instances: JSON wants the plain str.
    return history_row(id=message.id, role=str(message.role), content=message.content, created_at=message.created_at)


_ROLES = tuple(Message.Role.values)


def is_history(value: object) -> bool:
    """True when `value` is a list of rows as `message_row` makes them: what a cached entry must be.
    (Runs on every history hit: one plain loop, no per-row generator or .get calls.)"""
    if type(value) is not list:
        return False
    try:
        for row in value:
            if (type(row) is not dict or type(row["id"]) is not int or row["role"] not in _ROLES
                    or type(row["content"]) is not str or "\x00" in row["content"]
                    or type(row["created_at"]) is not str):
                return False
    except KeyError:
        return False
    return True


def _load(user_id: int, limit: int) -> list[dict]:
    rows = (
        Message.objects.filter(user_id=user_id, helpful=True)
        .order_by("-created_at", "-id")
        .only("id", "role", "content", "created_at")[:limit]
    )
    return [message_row(message) for message in reversed(rows)]


def get_conversation_history(*, user_id: int, limit: int = 20) -> list[dict]:
    """The latest `limit` messages, oldest first, without replies the bot marked unhelpful."""
    if limit < 1:
        return []
    if limit > HISTORY_MAX:
        return _load(user_id, limit)
    rows = read_through_list(
        conversation_history_key(user_id),
        lambda n: _load(user_id, n),
        timeout=settings.CACHE_TTL_CONVERSATION,
        max_items=HISTORY_MAX,
        valid=is_history,
    )
    return rows[-limit:]
