"""What a command or the free-text helper gets to answer one message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    user_id: int
    first_name: str
    memory: dict
    message_id: int | None = None  # the stored user message of this turn, left out of /history
    history: tuple[dict, ...] = ()  # recent messages before this one, oldest first
    telegram_language: str = "en"  # what Telegram says the user's app speaks (conversations/language.py)

    @property
    def profile(self) -> dict:
        return self.memory.get("profile") or {}

    @property
    def tz(self) -> str | None:
        return self.profile.get("tz") or None
