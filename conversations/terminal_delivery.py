"""Delivery inside `manage.py chat`: the embedded default has no worker service, so the chat runs the
same passes the Celery tasks run — fire due reminders, deliver due messages — in a background
thread, and prints its own user's messages in the terminal (sender.TerminalSender), saving the
files among them (charts, exports) in `files_dir`. The chat also runs a pass right after each reply
(`run_once` under `lock`), so a chart shows under the reply that sent it."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TextIO

from django.db import DatabaseError, close_old_connections

from .reminders.services import fire_due
from .delivery.sender import TerminalSender
from .delivery.worker import Worker

logger = logging.getLogger(__name__)


class LocalDelivery:
    def __init__(self, *, chat_id: int, out: TextIO, prompt: str = "", every: float = 1.0,
                 files_dir: Path | None = None) -> None:
        sender = TerminalSender(chat_id=chat_id, out=out, prompt=prompt, files_dir=files_dir)
        self.sender = sender
        self.worker = Worker(sender, name=f"chat:{os.getpid()}", chat_id=chat_id)
        self.lock = threading.RLock()  # held by the chat from a message to its reply's files
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chat-delivery", daemon=True)

    def run_once(self, *, at_prompt: bool = True) -> int:
        """One pass; how many messages this terminal showed. `at_prompt`: the prompt is on screen
        (the background passes), not yet (the pass right after a reply)."""
        with self.lock:
            self.sender.at_prompt = at_prompt
            try:
                fire_due()
                return self.worker.deliver_due()["sent"]
            finally:
                self.sender.at_prompt = True

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
