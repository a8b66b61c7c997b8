"""A file the bot sends besides its reply (a chart, an export): what a reply carries
(replies.Reply.files) and conversations/outgoing.py queues. Data only, so replies.py and models.py
can name it without importing the queue."""

from __future__ import annotations

from dataclasses import dataclass

PHOTO, DOCUMENT = "photo", "document"  # OutgoingMessage.Kind


@dataclass(frozen=True)
class OutgoingFile:
    kind: str  # PHOTO or DOCUMENT
    filename: str
    content: bytes
    caption: str = ""
    origin: str = "other"  # "chart" or "export": what the queue's row says it came from


def photo(png: bytes, *, caption: str = "", filename: str = "chart.png", origin: str = "chart") -> OutgoingFile:
    return OutgoingFile(PHOTO, filename, png, caption, origin)


def document(content: bytes, *, filename: str, caption: str = "", origin: str = "export") -> OutgoingFile:
    return OutgoingFile(DOCUMENT, filename, content, caption, origin)
