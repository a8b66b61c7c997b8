"""Delivery inside `manage.py chat`: the embedded default has no worker service, so the chat runs the
same passes the Celery tasks run — fire due reminders, deliver due messages — in a background
thread, and prints its own user's messages in the terminal (sender.TerminalSender)."""

from __future__ import annotations

import logging
import os
import threading
from typing import TextIO

from django.db import DatabaseError, close_old_connections

from .reminders.services import fire_due
from .delivery.sender import TerminalSender
from .delivery.worker import Worker

logger = logging.getLogger(__name__)


class LocalDelivery:
    def __init__(self, *, chat_id: int, out: TextIO, prompt: str = "", every: float = 1.0) -> None:
        self.worker = Worker(TerminalSender(chat_id=chat_id, out=out, prompt=prompt), name=f"chat:{os.getpid()}",
                             chat_id=chat_id)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chat-delivery", daemon=True)

    def run_once(self) -> int:
        """One pass; how many messages this terminal showed."""
        fire_due()
        return self.worker.deliver_due()["sent"]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    self.run_once()
                except DatabaseError as error:  # a locked SQLite file, a restarted server: next pass
                    logger.warning("chat delivery pass failed: %s", error)
        finally:
            close_old_connections()
