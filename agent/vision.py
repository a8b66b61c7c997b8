"""What a vision model sees on a photo of a meal: the foods and its estimate of their grams, named
through one tool call (structured, never free text). Nothing is logged here: the conversation turns
what was seen into a *proposed* entry the user confirms (conversations/photos.py).

One model call per photo, under the same breaker, daily token budget and per-process concurrency
as the agent's text turns (answering.py); any failure is a `Unseen` with a short reason, safe to log.
What is sent: the fixed instruction below, the tool's schema, the caption, the image. Never a name,
an id, the diary; logs name only the failure's kind.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings

from caching.api import count_model_call
from nutrition.selectors import local_today

from . import provider
from .answering import _slots, _spend, _spent

logger = logging.getLogger(__name__)
MAX_FOODS = 8

INSTRUCTION = """You see a photo a user took of a meal they are about to log in a food diary. Call
report_foods once with each food you can see: its name in English as a food database would name it
("cooked white rice", "grilled chicken breast", "banana") and your estimate of its weight in grams.
If the user's caption states an amount for a food, use that amount. If there is no food on the photo,
call report_foods with an empty list. Do not answer in text."""

REPORT_FOODS = {"type": "function", "function": {
    "name": "report_foods",
    "description": "The foods on the photo, each with its estimated weight in grams.",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["items"], "properties": {
        "items": {"type": "array", "maxItems": MAX_FOODS, "items": {
            "type": "object", "additionalProperties": False, "required": ["food", "grams"],
            "properties": {"food": {"type": "string"}, "grams": {"type": "number"}}}}}}}}


@dataclass(frozen=True)
class Seen:
    food: str  # in English, as the model named it
    grams: float  # the model's estimate


@dataclass(frozen=True)
class Unseen:
    reason: str  # "timeout", "budget", "breaker open", "malformed reply", …: safe to log


def vision_enabled(memory: dict | None) -> bool:
    """Whether a photo from this user goes to the vision model (else: "I read text only")."""
    return bool(settings.LLM_VISION_MODEL) and settings.LLM_ENABLED and \
        ((memory or {}).get("preferences") or {}).get("ai") != "off"


def see_meal(*, user_id: int, tz: str | None, image: bytes, mime: str, caption: str,
             deadline: float) -> tuple[Seen, ...] | Unseen:
    """The foods the model names on `image`, or why there are none. Call it outside any database
    transaction: the model may take seconds."""
    day = local_today(tz).isoformat()
    if _spent(user_id, day) >= settings.LLM_DAILY_TOKENS:
        return Unseen("budget")
    slots = _slots(settings.LLM_CONCURRENCY)
    if not slots.acquire(blocking=False):
        return Unseen("concurrency")
    try:
        remaining = deadline - time.monotonic()
        if remaining < 0.2:
            return Unseen("time budget")
        url = f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
        messages: list[dict] = [{"role": "system", "content": INSTRUCTION},
                    {"role": "user", "content": [{"type": "text", "text": caption[:1000] or "(no caption)"},
                                                 {"type": "image_url", "image_url": {"url": url}}]}]
        try:
            completion = provider.complete(messages=messages, tools=[REPORT_FOODS], timeout=remaining,
                                           model=settings.LLM_VISION_MODEL)
        except provider.ProviderFailed as failed:
            return Unseen(str(failed))
    finally:
        slots.release()
    count_model_call(tokens_in=completion.tokens_in, tokens_out=completion.tokens_out)
    _spend(user_id, day, completion.tokens_in + completion.tokens_out)
    return _reported(completion.message)


def _reported(message: object) -> tuple[Seen, ...] | Unseen:
    calls = [call for call in getattr(message, "tool_calls", None) or []
             if getattr(call.function, "name", None) == "report_foods"]
    if not calls:
        return Unseen("no tool call")
    try:
        items = json.loads(calls[0].function.arguments or "{}")["items"]
        seen = tuple(Seen(food=" ".join(item["food"].split())[:100], grams=float(item["grams"]))
                     for item in items[:MAX_FOODS])
    except (KeyError, TypeError, ValueError, AttributeError):
        return Unseen("malformed tool call")
    if any(not s.food or not math.isfinite(s.grams) or not s.grams > 0 for s in seen):
        return Unseen("malformed tool call")
    return seen
