"""Writes to the conversation."""

from __future__ import annotations

from .models import Message


def clean_text(text: str) -> str:
    """Make user text storable everywhere: PostgreSQL rejects NUL, and JSON can carry lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def message_save(
    *, user_id: int, role: str, content: str, helpful: bool = True, telegram_message_id: int | None = None
) -> Message:
    return Message.objects.create(
        user_id=user_id,
        role=role,
        content=clean_text(content),
        helpful=helpful,
        telegram_message_id=telegram_message_id,
    )
