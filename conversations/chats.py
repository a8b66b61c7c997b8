"""Which chats the bot serves: private chats with a person, and nothing else.

Everything the bot says holds someone's data — weight, age, diary, history — so in a group or a
channel it stores nothing and says at most where to talk to it. Telegram's own senders are not
people: 777000 posts every channel message auto-forwarded into a discussion group (all of them
would pool into one "user" that any such group could read back), `sender_chat` marks a post made
on behalf of a chat (an anonymous admin, a channel), and bots do not chat with bots. In a private
chat the chat is the person (chat.id == from.id); an update that says otherwise is not one
Telegram sends, and gets nothing.
"""

from __future__ import annotations

import logging
from enum import Enum

from django.utils.translation import gettext_lazy

logger = logging.getLogger(__name__)

# Telegram's own account: the sender of channel posts auto-forwarded into a linked discussion group.
TELEGRAM_SERVICE_ID = 777000
POINTER = gettext_lazy("I only talk in private chats, to keep your data out of groups: open a chat with me and send /start.")


class Chat(Enum):
    PRIVATE = "private"  # a person in their own chat with the bot: served
    GROUP = "group"  # a person in a group or channel: at most the pointer, nothing stored
    IGNORED = "ignored"  # not a person, or not a chat Telegram would send: nothing at all


def classify(message: object) -> Chat:
    """Where a message comes from, as far as serving it goes. Anything malformed is IGNORED."""
    if not isinstance(message, dict):
        return Chat.IGNORED
    sender, chat = message.get("from"), message.get("chat")
    if not isinstance(sender, dict) or not isinstance(chat, dict):
        return Chat.IGNORED
    sender_id, chat_id = sender.get("id"), chat.get("id")
    if type(sender_id) is not int or type(chat_id) is not int:
        return Chat.IGNORED
    if (sender.get("is_bot") is True or sender_id == TELEGRAM_SERVICE_ID
            or message.get("is_automatic_forward") is True or "sender_chat" in message):
        return Chat.IGNORED
    if chat.get("type") != "private":
        return Chat.GROUP
    if sender_id != chat_id:
        logger.warning("a private chat whose sender is not the chat: ignored")
        return Chat.IGNORED
    return Chat.PRIVATE


def addressed(text: object) -> bool:
    """Whether a message in a group asks the bot something: a command. With privacy mode on (the
    default) Telegram sends a bot only those; with it off the bot sees all talk, and stays out of it."""
    return isinstance(text, str) and text.lstrip().startswith("/")


def pointer(chat_id: int) -> dict:
    return {"method": "sendMessage", "chat_id": chat_id, "text": str(POINTER), "parse_mode": "HTML"}
