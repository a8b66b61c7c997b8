"""The tools the model may call: each one a thin call of an existing service or selector, so every
write keeps the cache fresh and every refusal the bot applies (ranges, the 5 kg cap, unknown foods,
amounts it would have to guess) applies to the model too.

A tool returns JSON-able data for the model. It records on the run which context entries it read
(for the answer's cache key). The model is asked outside the turn's transaction (healthagent/upstream.py),
so a tool that would write only checks and plans the write (`Run.plans`: a turn that plans one is
never cached); `apply` makes the planned writes inside the turn's transaction, after its claim — a
redelivery never writes twice — and returns the lines the bot itself adds to the answer for every
write, so the user reads what was really recorded.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from healthagent.errors import ApplicationError
from healthagent.numbers import fmt_g
from memory import services as memory_services
from memory import weights
from memory.energy import bmi_line, daily_target
from memory.fields import FIELDS
from nutrition.phrases import Item
from nutrition.reading import Reading, read_item
from nutrition.selectors import diary_day, search_foods
from nutrition.services import food_log_reading

from . import texts

MAX_ITEMS = 8
MEMORY, DIARY, HISTORY = "memory", "diary", "history"  # the context entries an answer may read


@dataclass(frozen=True)
class PlannedLog:
    reading: Reading
    amount: str
    food: str
    quote: str


@dataclass(frozen=True)
class PlannedPending:
    pending: dict


@dataclass(frozen=True)
class PlannedProfile:
    field: str
    raw: str


Plan = PlannedLog | PlannedPending | PlannedProfile


@dataclass
class Run:
    """One agent turn's state: who asks, what they said, what the tools read and wrote."""

    user_id: int
    memory: dict
    tz: str | None
    today: datetime.date
    said: str  # the user's own words this turn (and the question they answer): amounts must come from here
    diary_today: dict | None = None
    reads: set[str] = field(default_factory=set)
    wrote: bool = False  # a write is planned (the answer depends on it: never cached)
    notes: list[str] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    planned_profile: dict[str, object] = field(default_factory=dict)

    def today_diary(self) -> dict:
        if self.diary_today is None:
            self.diary_today = diary_day(user_id=self.user_id, day=self.today, tz=self.tz)
        return self.diary_today

    def current_memory(self) -> dict:
        """The memory the turn read, with the profile values this run plans to save."""
        if not self.planned_profile:
            return self.memory
        return {**self.memory, "profile": {**(self.memory.get("profile") or {}), **self.planned_profile}}

    def plan(self, write: Plan) -> None:
        self.plans.append(write)
        self.wrote = True


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def lookup_food(run: Run, query: str) -> Any:
    foods = search_foods(query=str(query)[:100], limit=5)
    return [{"food": f["description"], "kcal_per_100g": _num(f.get("kcal")), "protein_g": _num(f.get("protein")),
             "fat_g": _num(f.get("fat")), "carbs_g": _num(f.get("carbs"))} for f in foods[:3]] or "no food found"


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _numbers(text: str) -> list[str]:
    return [n.replace(",", ".").rstrip("0").rstrip(".") if "." in n.replace(",", ".") else n
            for n in _NUMBER.findall(text)]


def said_by_user(amount: str, quote: str, said: str) -> bool:
    """Whether `amount` (as the model read it: "2", "150 g", "a slice") is what the user said, not
    something the model made up. `quote` (the user's own words for it: "zwei", "150 g", "une") must be
    in the user's text; a number of the amount must be in that text, or be what the quote says in
    words — a count of at most 12 ("zwei" → "2"; never "150 g" from words). A reply line shows the quote
    beside what was logged, so a count read wrong is seen and corrected."""
    text, quote = " ".join(said.casefold().split()), " ".join(quote.casefold().split())
    amount = " ".join(amount.casefold().split())
    if not amount or not quote or quote not in text:
        return False
    numbers, quoted = _numbers(amount), _numbers(quote)
    if quoted:
        return all(n in quoted for n in numbers)
    return not numbers or (re.fullmatch(r"\d{1,2}", amount) is not None and 1 <= int(amount) <= 12)


def log_food(run: Run, items: list) -> Any:
    if not isinstance(items, list) or not items:
        raise ValueError("items must be a non-empty list")
    results, asked = [], []
    for raw in items[:MAX_ITEMS]:
        if not isinstance(raw, dict) or not isinstance(raw.get("food"), str):
            raise ValueError("each item needs a food")
        food, amount = raw["food"].strip()[:100], str(raw.get("amount") or "").strip()[:40]
        quote = str(raw.get("said") or "").strip()[:60]
        if not said_by_user(amount, quote, run.said):
            results.append({"food": food, "logged": False, "ask": f"The user did not say how much {food}: ask them."})
            asked.append({"said": food[:200], "query": food[:200], "to": "", "addition": False})
            continue
        reading = read_item(Item(f"{amount} {food}"))
        if reading.loggable:
            assert reading.food is not None and reading.grams is not None
            run.plan(PlannedLog(reading=reading, amount=amount, food=food, quote=quote))
            kcal = reading.food.get("kcal")
            results.append({"food": food, "logged": True, "grams": _num(reading.grams),
                            "kcal": None if kcal is None else round(float(kcal) * float(reading.grams) / 100, 1),
                            "matched": reading.food["description"]})
        elif reading.question:
            results.append({"food": food, "logged": False, "ask": reading.question})
            asked.append({"said": reading.item.text[:200], "query": reading.query[:200], "to": reading.item.to[:200],
                          "addition": reading.item.addition})
        else:
            why = reading.problem or "not in the food data"
            results.append({"food": food, "logged": False, "why": why})
            run.notes.append(texts.NOT_LOGGED.format(amount=amount, food=food, why=why))
    if asked:  # the next message may answer it ("200 g"): the rules take it from there (conversations.meals)
        run.plan(PlannedPending(pending={"items": asked}))
    return results


def apply(*, user_id: int, plans: Sequence[Plan]) -> list[str]:
    """Make the planned writes (inside the turn's transaction); the lines that say what was recorded."""
    notes: list[str] = []
    for write in plans:
        if isinstance(write, PlannedLog):
            try:
                entry = food_log_reading(user_id=user_id, reading=write.reading).entry
            except ApplicationError as refusal:
                notes.append(texts.NOT_LOGGED.format(amount=write.amount, food=write.food, why=refusal.message))
                continue
            notes.append(texts.LOGGED.format(amount=write.amount, food=write.food, quote=write.quote,
                                             grams=fmt_g(entry.grams), description=entry.description,
                                             kcal=fmt_g(entry.kcal)))
        elif isinstance(write, PlannedPending):
            memory_services.pending_set(user_id=user_id, pending=write.pending)
        else:
            try:
                profile = memory_services.profile_update(user_id=user_id, field=write.field, raw_value=write.raw)
            except ApplicationError as refusal:
                notes.append(texts.NOT_LOGGED.format(amount=write.raw, food=write.field, why=refusal.message))
                continue
            saved = getattr(profile, write.field)
            notes.append(texts.SAVED.format(field=write.field, value=fmt_g(saved) if isinstance(saved, (Decimal, float, int))
                                            and not isinstance(saved, bool) else saved))
    return notes


def read_diary(run: Run, day: str = "today") -> Any:
    if day == "yesterday":
        date = run.today - datetime.timedelta(days=1)
        run.reads.add(f"{DIARY}:{date.isoformat()}")  # not a key the lookup knows: this answer is not kept
        diary = diary_day(user_id=run.user_id, day=date, tz=run.tz)
    else:
        run.reads.add(DIARY)
        diary = run.today_diary()
    return {"day": diary["day"].isoformat(),
            "entries": [{"food": e["description"], "said": e["said"], "grams": _num(e["grams"]), "kcal": _num(e["kcal"]),
                         "protein_g": _num(e["protein"]), "fat_g": _num(e["fat"]), "carbs_g": _num(e["carbs"])}
                        for e in diary["entries"]],
            "totals": {name: _num(diary[name]) for name in ("kcal", "protein", "fat", "carbs")}}


def read_profile(run: Run) -> Any:
    run.reads.add(MEMORY)
    memory = run.current_memory()
    profile = {k: v for k, v in (memory.get("profile") or {}).items() if k in FIELDS and k != "name"}
    return {"profile": profile, "preferences": {k: v for k, v in (memory.get("preferences") or {}).items() if k != "ai"},
            "bmi": bmi_line(memory.get("profile") or {})}


def set_profile(run: Run, field: str, value: str) -> Any:
    if field not in FIELDS or field == "name":
        return {"saved": False, "why": f"unknown field; fields: {', '.join(f for f in FIELDS if f != 'name')}"}
    value = str(value)
    if field not in ("goal", "activity", "sex") and not said_by_user(value, value, run.said):
        return {"saved": False, "why": "the user did not say this value: ask them"}
    values, errors = memory_services.profile_parse({field: value[:40]})
    if errors:
        return {"saved": False, "why": next(iter(errors.values()))}
    saved = next(iter(values.values()))
    run.plan(PlannedProfile(field=field, raw=value[:40]))
    run.planned_profile[field] = saved
    return {"saved": True, "field": field, "value": float(saved) if isinstance(saved, Decimal) else saved}


def weight_history(run: Run) -> Any:
    run.reads.add(MEMORY)
    entries = weights.history(run.current_memory().get("weights") or [])
    return [{"date": e.at.date().isoformat(), "kg": e.kg} for e in entries[:30]] or "no weight recorded"


def target(run: Run) -> Any:
    run.reads.add(MEMORY)
    result = daily_target(run.current_memory().get("profile") or {})
    return {"kcal_per_day": result.kcal, "how": result.source, "notes": list(result.notes)}


TOOLS: dict[str, Callable[..., Any]] = {
    "lookup_food": lookup_food, "log_food": log_food, "read_diary": read_diary, "read_profile": read_profile,
    "set_profile": set_profile, "weight_history": weight_history, "daily_target": target,
}

_STRING = {"type": "string"}
SCHEMAS = [
    {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": list(required), "additionalProperties": False}}}
    for name, description, properties, required in (
        ("lookup_food", "Nutrition per 100 g of a food (English food name).", {"query": _STRING}, ("query",)),
        ("log_food", "Log foods the user ate: the food in English, the amount in English (\"2\", \"150 g\", "
                     "\"a slice\"), and the user's own words for the amount copied exactly from their message.",
         {"items": {"type": "array", "maxItems": MAX_ITEMS, "items": {
             "type": "object", "properties": {"food": _STRING, "amount": _STRING, "said": _STRING},
             "required": ["food", "amount", "said"],
             "additionalProperties": False}}}, ("items",)),
        ("read_diary", "The user's food diary of a day: entries and totals.",
         {"day": {"type": "string", "enum": ["today", "yesterday"]}}, ("day",)),
        ("read_profile", "The user's profile (age, sex, height, weight, activity, goal, target) and preferences.",
         {}, ()),
        ("set_profile", "Save one profile field the user stated.",
         {"field": {"type": "string", "enum": [f for f in FIELDS if f != "name"]}, "value": _STRING}, ("field", "value")),
        ("weight_history", "The user's recorded weights, newest first.", {}, ()),
        ("daily_target", "The user's daily energy target and how it was worked out.", {}, ()),
    )
]
