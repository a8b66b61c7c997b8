"""Telegram input made storable: message text, names, ids. No imports of the app: models and
replies use it too."""

from __future__ import annotations


def clean_text(text: str) -> str:
    """Make user text storable everywhere: PostgreSQL rejects NUL, and JSON can carry lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


# PostgreSQL's bigint, which every id column is: an id outside it could never be stored.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def storable_id(value: object) -> bool:
    """True for an int (not a bool) that fits a bigint column."""
    return type(value) is int and BIGINT_MIN <= value <= BIGINT_MAX


def clean_name(value: object, limit: int) -> str:
    """A Telegram first_name / username as the profile stores it: text cleaned like message text,
    at most `limit` characters; "" for anything that is not a string."""
    return clean_text(value)[:limit] if isinstance(value, str) else ""
