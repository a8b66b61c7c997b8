"""One bot turn: dispatch a message to a command or the free-text helper, errors become replies."""

from __future__ import annotations

import logging

from healthagent.errors import ApplicationError

from . import freetext
from .commands import COMMANDS, Turn
from .replies import Reply, esc, reply

logger = logging.getLogger(__name__)


def respond(*, turn: Turn, text: str) -> Reply:
    text = text.strip()
    try:
        if text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            name = head.split("@", 1)[0].lower()  # "/start@SomeBot" in group chats
            command = COMMANDS.get(name)
            if command is None:
                return reply(f"I don't know /{esc(name, 40)}. Send /help for the list.", helpful=False)
            return command(turn, args.strip())
        return freetext.answer(text=text, memory=turn.memory, first_name=turn.first_name, history=turn.history)
    except ApplicationError as exc:
        return reply(esc(exc.message, 1000))
