"""Which language a turn replies in: the one the user chose (/set language, kept on the profile),
else the one Telegram says their app uses (`from.language_code`, an IETF tag such as "de" or
"es-419"), else English. Only languages in settings.LANGUAGES are spoken; the rest get English."""

from __future__ import annotations

from django.conf import settings

DEFAULT = "en"


def supported(code: object) -> str | None:
    """The spoken language `code` names ("de-AT" → "de"), or None."""
    if not isinstance(code, str) or not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].casefold()
    return base if base in {name for name, _ in settings.LANGUAGES} else None


def of_message(message: object) -> str:
    """The language Telegram reports for the message's sender (before the profile is read)."""
    sender = message.get("from") if isinstance(message, dict) else None
    return (supported(sender.get("language_code")) if isinstance(sender, dict) else None) or DEFAULT


def of_turn(profile: dict, message: object) -> str:
    """The profile's chosen language, else Telegram's: what a turn that read user memory replies in."""
    return supported(profile.get("language")) or of_message(message)


def of_profile(profile: object) -> str:
    """The language of a message the bot starts (a reminder, the evening summary), outside any turn:
    the profile's chosen one, else the one Telegram last reported for the user's app, else English."""
    return (supported(getattr(profile, "language", "")) or supported(getattr(profile, "app_language", ""))
            or DEFAULT)
