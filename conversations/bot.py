"""One bot turn: dispatch a message to a command or the free-text helper, errors become replies.

Also the answers to updates that are not text: a photo, sticker or voice message gets a one-line
"I read text only", once per conversation (the time it was said is kept on the profile, so a burst
of stickers gets one answer); an edited message is acknowledged, not re-processed — running an
edited "/log 2 eggs" again would log twice, and the bot already answered the original.
"""

from __future__ import annotations

import difflib
import logging

from django.utils.translation import gettext as _, gettext_lazy

from healthagent.errors import ApplicationError
from memory.services import profile_ensure, profile_mark_blocked, text_only_notice_due

from . import chats, freetext, meals, photos
from .commands import CACHE_KEYS, COMMANDS, Turn
from .replies import Reply, esc, reply
from .cleaning import clean_name, storable_id

logger = logging.getLogger(__name__)

TEXT_ONLY = gettext_lazy("I read text only: tell me in words, like “I had 2 eggs” or /help.")
EDITED = gettext_lazy("I saw you edited a message. I act on new messages only, so nothing changed: send it again "
                      "if you want me to act on the new text (/undo removes a food entry).")
EDIT_KINDS = ("edited_message",)


def _command(text: str) -> tuple[str, str] | None:
    if not text.startswith("/"):
        return None
    head, _sep, args = text[1:].partition(" ")
    return head.split("@", 1)[0].lower(), args.strip()  # "/start@SomeBot" in group chats


def cache_keys(text: str) -> list[str]:
    """The cache keys (other than the user's) that answering `text` will read."""
    command = _command(text.strip())
    if command is None:
        return freetext.cache_keys(text.strip())
    keys = CACHE_KEYS.get(command[0])
    return keys(command[1]) if keys else []


def respond(*, turn: Turn, text: str) -> Reply:
    text = text.strip()
    try:
        if (parsed := _command(text)) is not None:
            meals.drop_pending(turn)
            name, args = parsed
            command = COMMANDS.get(name)
            if command is None:
                return _unknown_command(name, args)
            return command(turn, args)
        if (answered := photos.answer_proposal(turn, text)) is not None:
            return answered
        if (answered := meals.answer_pending(turn, text)) is not None:
            return answered
        meals.drop_pending(turn)
        return freetext.answer(turn=turn, text=text)
    except ApplicationError as exc:
        return reply(esc(exc.message, 1000))


def _unknown_command(name: str, args: str) -> Reply:
    """"/tody" → "did you mean /today?": the closest command by edit similarity, when close enough."""
    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
    if close:
        example = f"/{close[0]}" + (f" {esc(args, 60)}" if args else "")
        return reply(_("I don't know /{name}. Did you mean {example}? (/help lists them all.)").format(
            name=esc(name, 40), example=example), helpful=False)
    return reply(_("I don't know /{name}. Send /help for the list.").format(name=esc(name, 40)), helpful=False)


def _sender(message: object) -> tuple[int, int, dict] | None:
    """(user id, chat id, from) of a message from a person in their private chat with the bot, or
    None (chats.py: groups, channels, Telegram's own senders and bots get nothing here)."""
    if chats.classify(message) is not chats.Chat.PRIVATE:
        return None
    assert isinstance(message, dict)
    sender, chat = message["from"], message["chat"]
    user_id, chat_id = sender["id"], chat["id"]
    if not (storable_id(user_id) and storable_id(chat_id)):  # ints the database can hold, or nothing
        return None
    return user_id, chat_id, sender


def respond_other(update: dict) -> dict:
    """The answer to an update the turn does not take (no text, or not a private chat): {} when
    there is nothing to say. A command in a group gets the one-line pointer to a private chat."""
    message = update.get("message")
    if chats.classify(message) is chats.Chat.GROUP:
        assert isinstance(message, dict)
        return chats.pointer(message["chat"]["id"]) if chats.addressed(message.get("text")) else {}
    if isinstance(member := update.get("my_chat_member"), dict):
        _membership(member)
        return {}
    for kind in EDIT_KINDS:
        if (found := _sender(update.get(kind))) is not None:
            return _send(found[1], EDITED)
    found = _sender(update.get("message"))
    if found is None:  # callbacks, channel posts, bots, service updates: nothing to answer
        return {}
    user_id, chat_id, sender = found
    profile_ensure(user_id=user_id, name=clean_name(sender.get("first_name"), 100),
                   username=clean_name(sender.get("username"), 64))
    return text_only(user_id=user_id, chat_id=chat_id)


def text_only(*, user_id: int, chat_id: int) -> dict:
    """The one-line "I read text only", once per conversation ({} when it was said already)."""
    if not text_only_notice_due(user_id=user_id):
        return {}
    return _send(chat_id, TEXT_ONLY)


def _membership(update: dict) -> None:
    """my_chat_member in a private chat: the user blocked the bot ("kicked") or unblocked it
    ("member"). Messages the bot starts (reminders) stop and resume with it."""
    chat, new = update.get("chat"), update.get("new_chat_member")
    sender = update.get("from")
    if not (isinstance(chat, dict) and chat.get("type") == "private" and isinstance(new, dict)
            and isinstance(sender, dict) and storable_id(sender.get("id"))):
        return
    if new.get("status") in ("kicked", "member"):
        profile_mark_blocked(user_id=sender["id"], blocked=new["status"] == "kicked")


def _send(chat_id: int, text: str) -> dict:
    return {"method": "sendMessage", "chat_id": chat_id, "text": str(text), "parse_mode": "HTML"}
