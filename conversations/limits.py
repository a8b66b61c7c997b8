"""What a turn refuses before it reads anything: a user over the turn rate, a text over Telegram's size.

The rate is counted in the database (the user's ProcessedUpdate rows of the last minute, counted by
the claim's own statement), so every process sees the same count and a warm turn pays no extra
statement or Redis round trip for it. Over the limit the user hears "slow down" once; the turns
after it, while the flood goes on, get no answer at all (each still claims its update, so the count
stays up until they pause for a minute).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

# Telegram's own limit for a message's text: anything longer did not come from a Telegram client.
MAX_TEXT_CHARS = 4096
RATE_WINDOW_SECONDS = 60.0
SLOW_DOWN = gettext_lazy("Slow down, please: that is more than {limit} messages in a minute. I'll read your messages "
                         "again after a short pause; the ones sent until then are not read.")
TOO_LONG = format_lazy(gettext_lazy("That message is too long for me: {limit} characters at most. Please send it "
                                    "in shorter parts."), limit=MAX_TEXT_CHARS)


def turn_limit() -> int:
    return settings.BOT_TURNS_PER_MINUTE


def refusal(*, recent_turns: int, text: str) -> str | None:
    """None when the turn may go ahead; else the reply that refuses it ("" for no reply at all).
    `recent_turns`: the user's turns in the window before this one (conversations.services.Claim)."""
    limit = turn_limit()
    if recent_turns > limit:
        return ""
    if recent_turns == limit:
        return SLOW_DOWN.format(limit=limit)
    if len(text) > MAX_TEXT_CHARS:
        return str(TOO_LONG)
    return None
