"""The webhook's code path, shared by the HTTP view and `manage.py chat`.

Exactly-once: the update_id row is inserted first, in the same transaction as everything the turn
writes. A redelivery (Telegram resends whenever it did not get our answer) collides on the primary
key — on PostgreSQL it waits for the first delivery to commit — and gets the stored reply back,
after the turn's cache keys are invalidated again (the first delivery may have died before it
reached Redis). A photo turn claims the same way but calls the model between two transactions
(`_photo_turn`; docs/ARCHITECTURE.md "A photo of a meal").
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation

from caching.api import bot_turn, invalidate_on_commit, invalidate_user
from healthagent import upstream
from healthagent.errors import ApplicationError
from memory.selectors import load_user_memory
from memory.services import profile_ensure

from agent import api as agent_api

from . import bot, chats, language, limits, meals, outgoing, photos
from .commands import Turn
from .models import Message, ProcessedUpdate
from .replies import Reply, reply
from .selectors import get_conversation_history
from .cleaning import clean_name, clean_text, storable_id
from .services import IN_PROGRESS, NewMessage, turn_finish, update_claim, update_in_progress, update_resume

logger = logging.getLogger(__name__)
CONTEXT_MESSAGES = 20


class BadUpdate(ValueError):
    """The body is not a Telegram Update (→ 400)."""


class UnstorableUpdate(Exception):
    """A text message whose ids the database cannot hold (→ 200 {} and a warning: any other answer
    would make Telegram redeliver it forever)."""


# Profile.name / Profile.username max_length.
_NAME_CHARS, _USERNAME_CHARS = 100, 64


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def text_message(update: object) -> dict | None:
    """The message this bot handles, or None for updates it ignores (edits, callbacks, stickers).

    The message comes back with every field the turn stores checked: ids within bigint, first_name
    and username cleaned like message text and cut to the profile's lengths. An update the bot
    could not store raises UnstorableUpdate.

    Raises BadUpdate when the body is not an Update at all."""
    if not isinstance(update, dict):
        raise BadUpdate("the body must be a JSON object")
    update_id = _int(update.get("update_id"))
    if update_id is None:
        raise BadUpdate("update_id must be an integer")
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return None
    if chats.classify(message) is not chats.Chat.PRIVATE:  # groups are answered by respond_other
        return None
    sender, chat = message["from"], message["chat"]
    message_id = _int(message.get("message_id"))  # optional: a message_id that is not an int is not stored
    ids = (update_id, sender["id"], chat["id"], *(() if message_id is None else (message_id,)))
    if not all(storable_id(value) for value in ids):
        raise UnstorableUpdate(f"update {update_id}: an id (update, sender, chat or message) is outside bigint")
    sender = {**sender, "first_name": clean_name(sender.get("first_name"), _NAME_CHARS),
              "username": clean_name(sender.get("username"), _USERNAME_CHARS)}
    return {**message, "from": sender}


def _redelivered(update_id: int, chat_id: int) -> dict:
    """The stored reply of an update processed before. Its cache keys are invalidated again first:
    if the process that ran it died between COMMIT and its Redis calls, this is where they happen.
    /forget's reply is kept without its chat id (see _forgotten): the redelivery brings it."""
    logger.info("update %s already processed; answering with the stored reply", update_id)
    stored = ProcessedUpdate.objects.only("response", "cache_keys").get(pk=update_id)
    for key in stored.cache_keys:
        invalidate_on_commit(key)
    response = stored.response
    return {**response, "chat_id": chat_id} if response.get("method") and "chat_id" not in response else response


def _forgotten(update_id: int) -> None:
    """After /forget, its own update row must not point back to the person either: user_forget
    cleared the user id, the reply is stored without the chat id, and the cache keys (they name the
    user) are dropped once the commit's cache calls ran — they are the redelivery's to repeat only
    if this process dies before that. Registered after those calls, so it runs after them."""
    transaction.on_commit(lambda: ProcessedUpdate.objects.filter(pk=update_id).update(cache_keys=[]))


def handle_update(update: object) -> dict:
    """Process one Update; the JSON body to answer Telegram with ({} when there is nothing to say).

    A warm text turn is two statements inside BEGIN/COMMIT on PostgreSQL (the claim; one INSERT of
    both messages carrying the UPDATE that stores the reply and the turn's cache keys) and two Redis
    round trips (one MGET of the user's entries, one pipeline on commit).
    """
    message = text_message(update)
    assert isinstance(update, dict)  # text_message raised BadUpdate for anything else
    if message is None and (photo := photo_message(update)) is not None:
        with translation.override(language.of_message(photo)):
            return _photo_turn(update, photo)
    if message is None:
        with translation.override(language.of_message(update.get("message") or update.get("edited_message"))):
            return bot.respond_other(update)  # photos, stickers, edits, groups: bot.py decides whether to answer
    return upstream.attempts(lambda: _text_turn(update, message))


def _text_turn(update: dict, message: dict) -> dict:
    telegram_language = language.of_message(message)
    try:
        with translation.override(telegram_language):
            return _turn(update, message, telegram_language)
    except IntegrityError:
        # The cache knew a profile the database no longer has (restored or reset behind the cache's
        # back: a cached profile spares the turn its query), so storing the messages broke a foreign
        # key and the turn rolled back whole, its claim too. Once more from the database.
        user_id = message["from"]["id"]
        logger.warning("user %s: the cached profile is not in the database; dropping the user's "
                       "cached entries and running the turn again", user_id)
        try:
            invalidate_user(user_id=user_id)
        except ApplicationError:
            pass  # Redis unreachable: the keys went to the outbox, which every reader applies first
        with translation.override(telegram_language):
            return _turn(update, message, telegram_language)


def photo_message(update: dict) -> dict | None:
    """A photo (or file) in a private chat, when a vision model is configured: the photo turn's (else
    None: bot.respond_other answers, "I read text only")."""
    message = update.get("message")
    if not (settings.LLM_VISION_MODEL and photos.is_photo(message)) \
            or chats.classify(message) is not chats.Chat.PRIVATE:
        return None
    assert isinstance(message, dict)
    if not all(storable_id(value) for value in (update["update_id"], message["from"]["id"], message["chat"]["id"])):
        return None
    return message


def _photo_turn(update: dict, message: dict) -> dict:
    """A photo of a meal: three steps, so that the seconds of the Bot API download and the model call
    hold no transaction (nor, with the pool, a connection). 1. Claim the update in a short transaction,
    as a text turn does, and mark it in progress. 2. Fetch the photo and ask the model, outside any.
    3. In a second transaction, lock the update row, read the foods, keep the proposal as the pending
    question and store the reply. A redelivery during step 2 finds the mark and waits for the reply."""
    update_id, user_id, chat_id = update["update_id"], message["from"]["id"], message["chat"]["id"]
    raw_caption = message.get("caption")
    caption = clean_text(raw_caption if isinstance(raw_caption, str) else "")[:1000]
    with bot_turn(user_id=user_id) as cache_turn:
        claim = update_claim(update_id=update_id, user_id=user_id, window=limits.RATE_WINDOW_SECONDS,
                             limit=limits.turn_limit())
        if claim is None:
            stored = ProcessedUpdate.objects.only("response").get(pk=update_id).response
            if stored != IN_PROGRESS:
                return _redelivered(update_id, chat_id)
        else:
            refusal = limits.refusal(recent_turns=claim.recent_turns, text=caption)
            if refusal is not None:
                body = {"method": "sendMessage", "chat_id": chat_id, "text": refusal, "parse_mode": "HTML"} if refusal else {}
                turn_finish(update_id=update_id, user_id=user_id, messages=[], response=body)
                return body
            cache_turn.claimed(outbox_pending=claim.outbox_pending)
            turn = _photo_context(user_id, message)
            if not agent_api.vision_enabled(turn.memory):  # /pref ai off: as without a vision model
                body = bot.text_only(user_id=user_id, chat_id=chat_id)
                turn_finish(update_id=update_id, user_id=user_id, messages=[], response=body)
                return body
            meals.drop_pending(turn)  # a new message: the question asked before lapses
            with translation.override(language.of_turn(turn.profile, message)):
                file = photos.wanted(message)
                if isinstance(file, str):  # a file that is no image, or too large: said at once
                    return _photo_finish(update_id, user_id, chat_id, message, caption, reply(file))
            update_in_progress(update_id=update_id)
    if claim is None:
        return _photo_awaited(update_id, user_id, chat_id, message, caption)
    assert isinstance(file, photos.Wanted)  # every other answer returned above
    photos.release_connection()
    seen = photos.look(user_id=user_id, tz=turn.tz, file=file, caption=caption)
    with bot_turn(user_id=user_id) as cache_turn:
        outbox_pending = update_resume(update_id=update_id)
        if outbox_pending is None:  # a redelivery gave up waiting and answered
            return _redelivered(update_id, chat_id)
        cache_turn.claimed(outbox_pending=outbox_pending)
        turn = _photo_context(user_id, message)
        with translation.override(language.of_turn(turn.profile, message)):
            return _photo_finish(update_id, user_id, chat_id, message, caption, photos.propose(turn, seen, caption))


def _photo_context(user_id: int, message: dict) -> Turn:
    memory = load_user_memory(user_id=user_id)
    profile_ensure(user_id=user_id, name=str(message["from"].get("first_name") or ""),
                   username=str(message["from"].get("username") or ""),
                   known=memory["profile"] if memory else None, app_language=language.of_message(message))
    if memory is None:
        memory = load_user_memory(user_id=user_id) or {}
    return Turn(user_id=user_id, first_name=str(message["from"].get("first_name") or ""), memory=memory,
                telegram_language=language.of_message(message))


def _photo_finish(update_id: int, user_id: int, chat_id: int, message: dict, caption: str, answer: Reply) -> dict:
    body = {"method": "sendMessage", "chat_id": chat_id, "text": answer.text, "parse_mode": "HTML"}
    said = f"{photos.STORED_AS} {caption}".strip()
    turn_finish(update_id=update_id, user_id=user_id, response=body, messages=[
        NewMessage(role=Message.Role.USER, content=said, telegram_message_id=_int(message.get("message_id"))),
        NewMessage(role=Message.Role.ASSISTANT, content=answer.text, helpful=answer.helpful)])
    logger.info("update %s handled for user %s (a photo)", update_id, user_id)
    return body


PHOTO_WAIT_POLL = 0.25  # seconds between a redelivery's looks at the first delivery's row


def _pause() -> None:
    time.sleep(PHOTO_WAIT_POLL)


def _photo_awaited(update_id: int, user_id: int, chat_id: int, message: dict, caption: str) -> dict:
    """A redelivery of a photo whose first delivery is still at the model: wait for its reply (as a
    text turn's redelivery waits on the claim's row lock), with short reads that hold no
    transaction. If none comes within the turn's budget, the first delivery died: answer it here (the
    first, if alive after all, finds the update finished and returns this reply)."""
    for _ in range(math.ceil((settings.LLM_TURN_BUDGET + 5) / PHOTO_WAIT_POLL)):
        _pause()
        if ProcessedUpdate.objects.filter(pk=update_id).values_list("response", flat=True).first() != IN_PROGRESS:
            break
    with bot_turn(user_id=user_id) as cache_turn:
        outbox_pending = update_resume(update_id=update_id)
        if outbox_pending is None:
            return _redelivered(update_id, chat_id)
        cache_turn.claimed(outbox_pending=outbox_pending)
        turn = _photo_context(user_id, message)
        with translation.override(language.of_turn(turn.profile, message)):
            return _photo_finish(update_id, user_id, chat_id, message, caption, reply(str(photos.UNSEEN)))


def _turn(update: dict, message: dict, telegram_language: str) -> dict:
    """The turn of a text message, inside translation.override(telegram_language) (_text_turn)."""
    update_id, user_id, chat_id = update["update_id"], message["from"]["id"], message["chat"]["id"]
    # The transaction with the cache protocol around it (caching.api.bot_turn): the turn's keys go on
    # its ProcessedUpdate row, and its reads rely on the outbox check that the claim carries. A slow
    # upstream call (FDC, the model) is never made in it: the turn rolls back, the call is made, the
    # turn runs again with its answer (healthagent/upstream.py; handle_update's upstream.attempts).
    with bot_turn(user_id=user_id) as cache_turn, upstream.in_transaction():
        claim = update_claim(update_id=update_id, user_id=user_id, window=limits.RATE_WINDOW_SECONDS,
                             limit=limits.turn_limit())
        if claim is None:
            return _redelivered(update_id, chat_id)
        refusal = limits.refusal(recent_turns=claim.recent_turns, text=message["text"])
        if refusal is not None:  # nothing read, nothing stored but the claim (and the refusal, for a redelivery)
            if not refusal:
                return {}
            body = {"method": "sendMessage", "chat_id": chat_id, "text": refusal, "parse_mode": "HTML"}
            turn_finish(update_id=update_id, user_id=user_id, messages=[], response=body)
            return body
        text = clean_text(message["text"])
        cache_turn.claimed(outbox_pending=claim.outbox_pending, read_ahead=bot.cache_keys(text))
        memory = load_user_memory(user_id=user_id)
        first_name = str(message["from"].get("first_name") or "")
        profile_ensure(user_id=user_id, name=first_name, username=str(message["from"].get("username") or ""),
                       known=memory["profile"] if memory else None, app_language=telegram_language)
        if memory is None:
            memory = load_user_memory(user_id=user_id) or {}
        # The context the bot answers in: the conversation before this message. The message itself is
        # stored below, with the reply, in one INSERT just before the commit, both stamped then: two
        # turns of one user then rarely commit out of the order their rows sort in, which would
        # make the append on commit drop the cached entry.
        history = get_conversation_history(user_id=user_id, limit=CONTEXT_MESSAGES)
        turn = Turn(user_id=user_id, first_name=first_name, memory=memory, history=tuple(history),
                    telegram_language=telegram_language)
        # Replies in the profile's language; mostly it is Telegram's, active already (no second override).
        spoken = language.of_turn(turn.profile, message)
        with translation.override(spoken) if spoken != telegram_language else nullcontext():
            answer = bot.respond(turn=turn, text=text)
            body = {"method": "sendMessage", "chat_id": chat_id, "text": answer.text, "parse_mode": "HTML"}
        for file in answer.files:  # queued in this transaction: the worker sends it once it has committed
            outgoing.send(user_id=user_id, chat_id=chat_id, file=file)
        # Not after /forget: it deleted the conversation this message belongs to. Every answer is
        # kept, /forget's too: a redelivery must say "Done" if the first answer was lost.
        messages = [
            NewMessage(role=Message.Role.USER, content=text, telegram_message_id=_int(message.get("message_id"))),
            NewMessage(role=Message.Role.ASSISTANT, content=answer.text, helpful=answer.helpful),
        ] if answer.store else []
        if answer.store:
            turn_finish(update_id=update_id, user_id=user_id, messages=messages, response=body)
        else:
            turn_finish(update_id=update_id, user_id=user_id, messages=[],
                        response={name: value for name, value in body.items() if name != "chat_id"})
            _forgotten(update_id)
    logger.info("update %s handled for user %s", update_id, user_id)
    return body
