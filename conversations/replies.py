"""What the bot answers, and how it is made safe for Telegram's HTML parse mode."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.utils.functional import Promise

from healthagent.numbers import fmt_g as fmt_g, localized  # fmt_g: the conversation's modules take it from here

from .cleaning import clean_text
from .files import OutgoingFile

# Telegram's limit for one message's text.
MAX_REPLY_CHARS = 4096
ECHO_CHARS = 200
# The tags replies are written with (Telegram's HTML subset). Anything else in a reply is text, and
# user text in a reply is always escaped, so no user "<" ever reaches this.
_TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|code|pre|a|tg-spoiler|blockquote)(?:\s[^<>]*)?>")


@dataclass(frozen=True)
class Reply:
    """A reply in Telegram HTML. `helpful=False` marks "did not understand" replies, which the
    history the bot reads back leaves out. `store=False` keeps the turn out of the database
    (after /forget there is nothing left to attach it to). `files` are sent with it
    (conversations/outgoing.py): /week's chart, /export's CSV."""

    lines: tuple[str, ...]
    helpful: bool = True
    store: bool = True
    files: tuple[OutgoingFile, ...] = ()

    @property
    def text(self) -> str:
        # Cleaned like stored text: a reply is stored for redelivery (jsonb refuses NUL), and text
        # read back from a cache or the database must not make it unstorable.
        return clean_text(fit("\n".join(self.lines)))


def reply(*lines: str | Promise, helpful: bool = True, store: bool = True, files: tuple[OutgoingFile, ...] = ()) -> Reply:
    return Reply(lines=tuple(str(line) for line in lines), helpful=helpful, store=store, files=files)


def esc(text: object, limit: int = ECHO_CHARS) -> str:
    """User-supplied text, shortened and escaped for HTML parse mode."""
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return html.escape(value, quote=False)


def fit(text: str) -> str:
    """Keep a reply within Telegram's limit without cutting through a tag or an entity:
    whole lines are dropped from the end."""
    if len(text) <= MAX_REPLY_CHARS:
        return text
    kept: list[str] = []
    size = 0
    for line in text.split("\n"):
        if size + len(line) + 1 > MAX_REPLY_CHARS - 2:
            break
        kept.append(line)
        size += len(line) + 1
    if not kept:  # one enormous line: fall back to plain text
        return html.escape(to_plain(text)[: MAX_REPLY_CHARS - 200], quote=False) + "…"
    return "\n".join(kept) + "\n…"


def to_plain(text: str) -> str:
    """Telegram HTML → terminal text (for `manage.py chat` and /history)."""
    return html.unescape(_TAG.sub("", text))


def fmt_number(value: object, digits: int = 0) -> str:
    if value is None:
        return "?"
    return localized(f"{float(value):.{digits}f}")


def fmt_grams(value: object) -> str:
    """"100 g", "13.5 g": whole grams without a decimal, a tenth where it matters."""
    number = float(value)
    return localized(f"{number:.0f} g" if number == round(number) or number >= 100 else f"{number:.1f} g")
