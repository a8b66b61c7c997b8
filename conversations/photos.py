"""A photo of a meal becomes a *proposed* diary entry, never a logged one (issue 23, item 5).

With a vision model configured (settings.LLM_VISION_MODEL; agent/vision.py), the largest size of a
photo within LLM_VISION_MAX_BYTES is fetched from the Bot API (getFile, then the file) and sent to the
model with the caption; the model names the foods and its estimate of their grams through one tool
call. Each food is read the way the log tool and /log read an item (nutrition.reading.read_item: the
same food lookup), amounts the caption states win over the estimates (they are the user's words),
and the reply lists the items with grams and kcal as estimates and asks "yes", a correction or "no".

The proposal is the pending question (memory: {"photo": [item, …]}), so it lapses like any other:
a command or any message that is no answer drops it. "yes" logs exactly its items through the same
service as every other log (food_log_reading: the 5 kg cap, unknown foods, cache invalidation);
"no" logs nothing; "the rice was 150 g" changes that item and asks again — unless every amount is
now the user's own, which is the confirmation there is nothing left to ask about, so it is logged.

The turn around it (conversations/updates.py) runs the fetch and the model outside any database
transaction; docs/ARCHITECTURE.md "A photo of a meal" has the design.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils.functional import Promise
from django.utils.translation import gettext as _, gettext_lazy

from agent import api as agent_api
from healthagent.errors import ApplicationError
from memory.services import pending_set
from nutrition.amounts import split_amount_anywhere
from nutrition.matching import content_words
from nutrition.phrases import Item, meal_items
from nutrition.reading import Reading, read_item
from nutrition.sample import tokens

from . import meals
from .botapi import BotAPI, BotAPIError
from .replies import Reply, esc, fmt_grams, fmt_number, reply
from .turn import Turn

logger = logging.getLogger(__name__)

# What the user message of a photo turn is stored as (the history): the caption, after this.
STORED_AS = "[photo]"

UNSEEN = gettext_lazy("I couldn't look at your photo just now. Tell me in words what you ate, like "
                      "“200 g rice and a chicken breast”, and I'll log it.")
UNREADABLE = gettext_lazy("I couldn't read that image. Send a photo of your meal, or tell me in words what you "
                          "ate, like “200 g rice and a chicken breast”.")
TOO_LARGE = gettext_lazy("That image is too large for me to look at. Send it as a photo (not as a file), or tell "
                         "me in words what you ate, like “200 g rice and a chicken breast”.")
NOT_AN_IMAGE = gettext_lazy("I can look at photos of meals, but not at this kind of file. Send a photo, or tell "
                            "me in words what you ate, like “200 g rice and a chicken breast”.")
NO_FOOD = gettext_lazy("I couldn't make out any food I know on that photo, so I logged nothing. Tell me in words "
                       "what you ate, like “200 g rice and a chicken breast”.")
HEAD = gettext_lazy("📷 From your photo I'd log this — <b>estimates from the photo</b>, please check them:")
ASK = gettext_lazy("Log it? Reply “yes”, correct an amount (like “{example}”), or “no”.")
NOTHING_LOGGED = gettext_lazy("OK, nothing from the photo logged.")

# "yes" in the languages the bot speaks, and what people add to it.
YES = re.compile(r"^(?:yes|yep|yeah|y|ok|okay|sure|correct|right|log it|please do|ja|jawohl|genau|passt|"
                 r"richtig|sí|si|vale|claro|correcto)(?:[ ,]+(?:please|bitte|por favor|thanks|danke|gracias))?"
                 r"[.!👍]*$", re.I)
NO = re.compile(r"^(?:nein|nee|no,? gracias|no lo registres|nichts)[.!]*$", re.I)
_PNG = b"\x89PNG\r\n\x1a\n"
# PNG chunks that carry words or metadata rather than pixels (EXIF may hold where a photo was taken).
_PNG_METADATA = {b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"tIME"}


@dataclass(frozen=True)
class Wanted:
    """The file of a photo message to fetch."""

    file_id: str


def wanted(message: dict) -> Wanted | str:
    """The file to fetch for this photo (or image file) message, or the reply that refuses it: the
    largest size of the photo within LLM_VISION_MAX_BYTES (Telegram says each size's file_size)."""
    cap = settings.LLM_VISION_MAX_BYTES
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        sizes = [size for size in photo if isinstance(size, dict) and isinstance(size.get("file_id"), str)]
        fitting = [size for size in sizes if _int(size.get("file_size")) <= cap]
        if not fitting:
            return str(TOO_LARGE) if sizes else str(UNREADABLE)
        best = max(fitting, key=lambda size: (_int(size.get("width")) * _int(size.get("height")),
                                              _int(size.get("file_size"))))
        return Wanted(best["file_id"])
    document = message.get("document")
    if isinstance(document, dict) and isinstance(document.get("file_id"), str):
        if not str(document.get("mime_type") or "").startswith("image/"):
            return str(NOT_AN_IMAGE)
        if _int(document.get("file_size")) > cap:
            return str(TOO_LARGE)
        return Wanted(document["file_id"])
    return str(UNREADABLE)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def is_photo(message: object) -> bool:
    """A message the photo turn takes: a photo, or a file (an image sent as a file, or any other,
    which gets a clear reply)."""
    return isinstance(message, dict) and (isinstance(message.get("photo"), list)
                                          or isinstance(message.get("document"), dict))


def release_connection() -> None:
    """Give the database connection back (to the pool) before seconds of waiting on the network:
    outside a transaction nothing is lost, and the next statement takes one again."""
    if not connection.in_atomic_block:
        connection.close()


def look(*, user_id: int, tz: str | None, file: Wanted, caption: str) -> tuple[agent_api.Seen, ...] | Promise:
    """Fetch the photo and ask the vision model what is on it (within LLM_TURN_BUDGET): the foods it
    names, or the reply that says why there are none (translated when it is sent: in step 3, in the
    user's language). Never inside a database transaction."""
    deadline = time.monotonic() + settings.LLM_TURN_BUDGET
    try:
        api = BotAPI()
        try:
            found = api.call("getFile", file_id=file.file_id, http_timeout=max(0.1, min(10.0, deadline - time.monotonic())))
            path = found.get("file_path") if isinstance(found, dict) else None
            if not isinstance(path, str) or not path:
                return UNREADABLE
            if _int(found.get("file_size")) > settings.LLM_VISION_MAX_BYTES:
                return TOO_LARGE
            image = api.download(path, max_bytes=settings.LLM_VISION_MAX_BYTES, deadline=deadline)
        finally:
            api.close()
    except BotAPIError as error:
        logger.warning("photo of user %s: %s failed (%s)", user_id, error.method, error.code)
        return TOO_LARGE if error.code == 413 else UNSEEN
    stripped = without_metadata(image)
    if stripped is None:
        return UNREADABLE
    mime, image = stripped
    seen = agent_api.see_meal(user_id=user_id, tz=tz, image=image, mime=mime, caption=caption, deadline=deadline)
    if isinstance(seen, agent_api.Unseen):
        logger.info("photo of user %s: answered without the model (%s)", user_id, seen.reason)
        return UNSEEN
    return seen


def without_metadata(image: bytes) -> tuple[str, bytes] | None:
    """(MIME type, the image without its metadata) of a JPEG or PNG, or None for anything else or a
    file that does not parse. Telegram re-encodes photos, but an image sent as a file keeps what the
    camera wrote — EXIF with the place it was taken, a comment: none of it goes to the provider. JPEG
    keeps its segments but APP1–APP15 and comments; PNG its chunks but text, EXIF and time."""
    if image.startswith(b"\xff\xd8"):
        return _jpeg_without_metadata(image)
    if image.startswith(_PNG):
        return _png_without_metadata(image)
    return None


def _jpeg_without_metadata(image: bytes) -> tuple[str, bytes] | None:
    kept, at = [image[:2]], 2
    while at + 4 <= len(image) and image[at] == 0xFF:
        marker = image[at + 1]
        if marker == 0xDA:  # start of scan: the compressed pixels follow, to the end
            kept.append(image[at:])
            return "image/jpeg", b"".join(kept)
        length = int.from_bytes(image[at + 2:at + 4], "big")
        if length < 2 or at + 2 + length > len(image):
            return None
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE):
            kept.append(image[at:at + 2 + length])
        at += 2 + length
    return None


def _png_without_metadata(image: bytes) -> tuple[str, bytes] | None:
    kept, at = [_PNG], len(_PNG)
    while at + 12 <= len(image):
        length, kind = int.from_bytes(image[at:at + 4], "big"), image[at + 4:at + 8]
        end = at + 12 + length
        if end > len(image):
            return None
        if kind not in _PNG_METADATA:
            kept.append(image[at:end])
        at = end
        if kind == b"IEND":
            return "image/png", b"".join(kept)
    return None


def propose(turn: Turn, seen: tuple[agent_api.Seen, ...] | Promise, caption: str) -> Reply:
    """The proposed entry (kept as the pending question), or the reply that says why there is none."""
    if isinstance(seen, Promise):
        return reply(seen)
    try:
        return _proposed(turn, seen, caption)
    except ApplicationError as error:  # the bot's own refusal, as bot.respond makes it a reply
        return reply(esc(error.message, 1000))


def _proposed(turn: Turn, seen: tuple[agent_api.Seen, ...], caption: str) -> Reply:
    items = [{"text": f"{max(1, round(s.grams))} g {s.food}"[:200], "food": s.food[:200], "said": False}
             for s in seen]
    for said in _caption_amounts(caption):  # the user's words win over the estimates
        match = _matching(items, said.query)
        if match is not None:
            items[match] = {"text": said.text[:200], "food": items[match]["food"], "said": True}
        elif len(items) < meals.MAX_ITEMS:
            items.append({"text": said.text[:200], "food": said.query[:200], "said": True})
    return _proposal(turn, items)


@dataclass(frozen=True)
class _Said:
    text: str  # "200 g of rice"
    query: str  # "rice"


def _caption_amounts(caption: str) -> list[_Said]:
    found = []
    for item in meal_items(caption)[: meals.MAX_ITEMS]:
        try:
            amount, words = split_amount_anywhere(item.text)
        except ApplicationError:
            continue
        if amount is not None and content_words(words):
            found.append(_Said(text=item.text, query=words.strip()))
    return found


def _matching(items: list[dict], words: str) -> int | None:
    """The item `words` names best ("rice" → "cooked white rice"; "cooked rice" → it rather than
    "cooked broccoli"), or None (none, or a tie)."""
    wanted = set(content_words(words))
    shared = [len(wanted & set(tokens(item["food"]))) for item in items]
    best = max(shared, default=0)
    return shared.index(best) if best and shared.count(best) == 1 else None


def _proposal(turn: Turn, items: list[dict]) -> Reply:
    lines, kept, total, left_out = [str(HEAD)], [], 0.0, []
    for item in items:
        reading = read_item(Item(item["text"]))
        if not reading.loggable:
            left_out.append(_left_out(item, reading))
            continue
        assert reading.food is not None and reading.grams is not None
        kcal = float(reading.food.get("kcal") or 0) * float(reading.grams) / 100
        total += kcal
        kept.append(item)
        how = _("your amount") if item["said"] else _("estimate")
        lines.append(_("• {food}: {grams}, {kcal} kcal ({how}) — <i>{description}</i>").format(
            food=esc(item["food"], 60), grams=fmt_grams(reading.grams), kcal=fmt_number(kcal), how=how,
            description=esc(reading.food["description"], 100)))
    if not kept:
        meals.drop_pending(turn)
        return reply(str(NO_FOOD), *left_out, helpful=False)
    lines += left_out
    lines.append(_("About {kcal} kcal in all.").format(kcal=fmt_number(total)))
    lines.append(ASK.format(example=esc(f"{kept[0]['food']} 150 g", 80)))
    pending_set(user_id=turn.user_id, pending={"photo": kept})
    return reply(*lines)


def _left_out(item: dict, reading: Reading) -> str:
    why = reading.problem or reading.question or _("not in the food data")
    return _("Left out: {food} — {why}").format(food=esc(item["food"], 60), why=esc(why, 200))


def answer_proposal(turn: Turn, text: str) -> Reply | None:
    """The answer to a proposed photo entry, when `text` is one: "yes" logs it, "no" drops it, an
    amount for one of its items changes it. None when `text` is something else (it lapses)."""
    pending = turn.memory.get("pending") or {}
    items = pending.get("photo")
    if not items:
        return None
    said = meals.unhedged(text)
    if YES.match(said):
        return meals.log_readings(turn, [read_item(Item(item["text"])) for item in items])
    if meals.SKIP.match(said) or NO.match(said):
        pending_set(user_id=turn.user_id, pending=None)
        return reply(str(NOTHING_LOGGED))
    try:
        amount, words = split_amount_anywhere(said)
    except ApplicationError:
        return None
    if amount is None:
        return None
    named = words.strip() and content_words(words)
    index = _matching(items, words) if named else (0 if len(items) == 1 else None)
    if index is None:
        return None
    changed = [*items]
    changed[index] = {"text": f"{amount.text} {items[index]['food']}"[:200], "food": items[index]["food"], "said": True}
    if all(item["said"] for item in changed):  # every amount is the user's own now: nothing left to ask
        return meals.log_readings(turn, [read_item(Item(item["text"])) for item in changed])
    return _proposal(turn, changed)
