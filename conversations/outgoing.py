"""Files the bot sends besides its reply: the charts of /week and /month (a photo) and /export's CSV
(a document).

A webhook reply is a JSON method call in the response body, and a file cannot ride in it: it goes to
the Bot API as a multipart upload. `send` is the one seam for that: it queues the file as an
OutgoingMessage (conversations/delivery/) in the turn's transaction, so a turn that rolls back sends
nothing, and a committed one is delivered exactly once by the worker — a failed upload is retried or
recorded there, and a crash after the commit loses nothing. No dedupe key: the turn runs once per
update (its claim is in the same transaction), and two /week in a row are two charts.

In `manage.py chat`, the chat's own delivery pass (conversations/terminal_delivery.py) takes the file
from the queue, saves it and prints its path; `delivered_here()` tells `can_send` so.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from .delivery.queue import message_enqueue
from .files import DOCUMENT, PHOTO, OutgoingFile, document, photo
from .models import OutgoingMessage

__all__ = ["DOCUMENT", "PHOTO", "OutgoingFile", "can_send", "delivered_here", "document", "photo", "send"]


class _Local(threading.local):
    here: bool = False


_local = _Local()


def can_send() -> bool:
    """Whether a queued file would reach anyone: a bot token for the worker to upload with, or a
    delivery in this process (`manage.py chat`)."""
    return _local.here or bool(settings.TELEGRAM_BOT_TOKEN)


@contextmanager
def delivered_here() -> Iterator[None]:
    """Turns on this thread have a delivery pass of their own (`manage.py chat`): files can be sent
    without a bot token."""
    outer, _local.here = _local.here, True
    try:
        yield
    finally:
        _local.here = outer


def send(*, user_id: int, chat_id: int, file: OutgoingFile) -> OutgoingMessage | None:
    """Queue `file` for `chat_id` in the current transaction: sent once it has committed. The
    caption is plain text; queued messages are HTML."""
    return message_enqueue(user_id=user_id, chat_id=chat_id, kind=file.kind, file=file.content,
                           filename=file.filename, text=html.escape(file.caption, quote=False), origin=file.origin)
