"""Files the bot sends besides its reply: the charts of /week and /month (sendPhoto) and /export's
CSV (sendDocument).

A webhook reply is a JSON method call in the response body, and a file cannot ride in it: it goes to
the Bot API as a multipart upload. `send_photo` and `send_document` are the one seam for that. They
are called inside the turn's transaction and the upload happens once it has committed (a turn that
rolls back sends nothing); a failed upload is logged and counted, never retried here. The
outgoing-message queue can take their place without touching a call site.

`capture()` redirects them for this thread: `manage.py chat` saves the files and prints their paths,
and tests look at what would have been sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .botapi import BotAPI, BotAPIError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingFile:
    method: str  # "sendPhoto" or "sendDocument"
    filename: str
    content: bytes
    caption: str = ""
    mime_type: str = "application/octet-stream"

    @property
    def field(self) -> str:  # the multipart field the method takes the file in
        return "photo" if self.method == "sendPhoto" else "document"


Sink = Callable[[int, OutgoingFile], None]


class _Redirect(threading.local):
    sink: Sink | None = None


_redirect = _Redirect()


def photo(png: bytes, *, caption: str = "", filename: str = "chart.png") -> OutgoingFile:
    return OutgoingFile("sendPhoto", filename, png, caption, "image/png")


def document(content: bytes, *, filename: str, caption: str = "", mime_type: str = "text/csv") -> OutgoingFile:
    return OutgoingFile("sendDocument", filename, content, caption, mime_type)


def send_photo(*, chat_id: int, png: bytes, caption: str = "", filename: str = "chart.png") -> None:
    send(chat_id=chat_id, file=photo(png, caption=caption, filename=filename))


def send_document(*, chat_id: int, content: bytes, filename: str, caption: str = "",
                  mime_type: str = "text/csv") -> None:
    send(chat_id=chat_id, file=document(content, filename=filename, caption=caption, mime_type=mime_type))


def can_send() -> bool:
    """Whether a file would reach anyone: a bot token to upload with, or a capture in place."""
    return _redirect.sink is not None or bool(settings.TELEGRAM_BOT_TOKEN)


@contextmanager
def capture(sink: Sink | None = None) -> Iterator[list[tuple[int, OutgoingFile]]]:
    """Files sent on this thread go to `sink` (and the yielded list), not to Telegram."""
    sent: list[tuple[int, OutgoingFile]] = []

    def keep(chat_id: int, file: OutgoingFile) -> None:
        sent.append((chat_id, file))
        if sink is not None:
            sink(chat_id, file)

    outer, _redirect.sink = _redirect.sink, keep
    try:
        yield sent
    finally:
        _redirect.sink = outer


def send(*, chat_id: int, file: OutgoingFile) -> None:
    """Send `file` to `chat_id` once the current transaction commits (at once outside one)."""
    sink = _redirect.sink
    if sink is not None:
        transaction.on_commit(lambda: sink(chat_id, file), robust=True)
        return
    if not settings.TELEGRAM_BOT_TOKEN:
        logger.warning("%s to chat %s not sent: TELEGRAM_BOT_TOKEN is not set", file.method, chat_id)
        return
    transaction.on_commit(lambda: _upload(chat_id, file), robust=True)


def _upload(chat_id: int, file: OutgoingFile) -> None:
    api = BotAPI()
    try:
        api.upload(file.method, field=file.field, filename=file.filename, content=file.content,
                   mime_type=file.mime_type, chat_id=chat_id, caption=file.caption)
    except BotAPIError as exc:
        logger.warning("%s to chat %s failed: %s", file.method, chat_id, exc)
    finally:
        api.close()
