"""Cached reads of the conversation: the recent history the bot reads back every turn."""

from __future__ import annotations

from .models import Message

HISTORY_MAX = 50


def get_conversation_history(*, user_id: int, limit: int = 20) -> list[dict]:
    """The latest `limit` messages, oldest first, without replies the bot marked unhelpful."""
    if limit < 1:
        return []
    rows = (
        Message.objects.filter(user_id=user_id, helpful=True)
        .order_by("-created_at", "-id")
        .values("id", "role", "content", "created_at")[:limit]
    )
    return [
        {"id": row["id"], "role": row["role"], "content": row["content"], "created_at": row["created_at"].isoformat()}
        for row in reversed(rows)
    ]
