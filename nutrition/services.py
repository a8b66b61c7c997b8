"""Nutrition writes: logging food to the diary, and taking entries back out."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _, gettext_lazy

from healthagent.errors import ApplicationError
from memory.models import Profile
from nutrition import selectors
from nutrition.amounts import Amount, weighed
from nutrition.models import FoodEntry
from nutrition.phrases import Item
from nutrition.reading import NO_FOOD_NAMED, Reading, read_item
from nutrition.sample import OFFLINE_NOTE

TENTH = Decimal("0.1")
UNKNOWN_USER = gettext_lazy("I don't know you yet: send /start first, then log food.")
LOG_USAGE = gettext_lazy("Tell me what and how much, like /log 150 g banana, /log 2 eggs, /log 1 tbsp olive oil or "
             "/log a slice of bread")


class NoFoodMatch(ApplicationError):
    """No food matched the query (free text tells this apart from "food found, amount wrong")."""


@dataclass(frozen=True)
class Logged:
    entry: FoodEntry
    amount: Amount  # as the user put it: "2", "100g", "1 tbsp"
    query: str  # the food words: "eggs", "olive oil"
    assumed: str = ""  # why this amount, when none was said: "a usual portion"
    corrected: str = ""  # a misspelling read as a food word


def food_log(*, user_id: int, text: str) -> Logged:
    """Log what `text` says ("2 eggs", "100g banana", "chicken breast 200g") to the user's diary.

    One item, read as nutrition.reading reads it (the food said, the amount said or a typical
    portion). Raises ApplicationError — and stores nothing — for a bad amount, an unknown user, no
    matching food (NoFoodMatch), an amount that cannot be known (the message asks for it), or a
    match without an energy value.
    """
    if not text.strip():
        raise ApplicationError(LOG_USAGE)
    # Checked before the lookup so an unknown user costs no upstream call.
    if not Profile.objects.filter(telegram_id=user_id).exists():
        raise ApplicationError(UNKNOWN_USER, status=404)
    reading = read_item(Item(text.strip()))
    if reading.problem == NO_FOOD_NAMED:  # "150 g": an amount of nothing
        raise ApplicationError(LOG_USAGE)
    if reading.problem and not reading.not_found:
        raise ApplicationError(reading.problem)
    if not reading.query.strip() and not reading.not_found:
        raise ApplicationError(LOG_USAGE)
    if reading.not_found:
        raise NoFoodMatch(_("No food matched “{query}”, so nothing logged. Try a simpler name, like /log 150 g "
                            "banana").format(query=(reading.query or text).strip()) + _offline_hint())
    if reading.question:
        raise ApplicationError(reading.question)
    return _write(user_id, reading)


def food_log_reading(*, user_id: int, reading: Reading) -> Logged:
    """Write one understood item (reading.loggable) to the user's diary.

    Nutrients are the food's per-100 g values scaled to the grams, rounded to 0.1. Raises
    ApplicationError for an unknown user (checked before anything is written).
    """
    if not Profile.objects.filter(telegram_id=user_id).exists():
        raise ApplicationError(UNKNOWN_USER, status=404)
    return _write(user_id, reading)


def _write(user_id: int, reading: Reading) -> Logged:
    food, amount, grams = reading.food, reading.amount, reading.grams
    assert food is not None and amount is not None and grams is not None, "log only what was understood"
    try:
        # The entry is one row: it is written whole or not at all, and cache invalidation hooked
        # to on_commit runs only once it is really there.
        with transaction.atomic():
            entry = FoodEntry.objects.create(
                user_id=user_id,
                fdc_id=food.get("fdc_id"),
                description=food["description"][:255],
                grams=grams,
                said=_said(amount, reading.query),
                **{name: _scaled(food.get(name), grams) for name in ("kcal", "protein", "fat", "carbs")},
            )
    except IntegrityError:  # the profile was deleted (/forget) between the check and the insert
        raise ApplicationError(UNKNOWN_USER, status=404) from None
    return Logged(entry=entry, amount=amount, query=reading.query, assumed=reading.assumed,
                  corrected=reading.corrected)


def _said(amount: Amount, query: str) -> str:
    if weighed(amount):
        return ""  # "150 g" says it already
    joiner = " " if amount.unit == "item" else " of "
    return f"{amount.text}{joiner}{query}"[:120]


def _offline_hint() -> str:
    return f"\n{OFFLINE_NOTE}" if settings.NUTRITION_PROVIDER == "sample" else ""


def _scaled(per_100_g: float | None, grams: Decimal) -> Decimal | None:
    """A per-100 g value for `grams`, rounded to 0.1 (None stays None: unknown is not zero)."""
    if per_100_g is None:
        return None
    return (Decimal(str(per_100_g)) * grams / 100).quantize(TENTH, rounding=ROUND_HALF_UP)


def food_undo(*, user_id: int) -> FoodEntry | None:
    """Delete the user's most recently logged entry (of any day); the deleted entry, or None."""
    with transaction.atomic():
        entry = (FoodEntry.objects.select_for_update().filter(user_id=user_id)
                 .order_by("-id").first())
        if entry is None:
            return None
        entry.delete()
    return entry


def food_delete(*, user_id: int, number: int, day: datetime.date | None = None, tz: str | None = None) -> dict:
    """Delete entry `number` (1-based) of the day as /today lists it; the deleted entry's dict."""
    entries = selectors.diary_day(user_id=user_id, day=day, tz=tz)["entries"]
    if not entries:
        raise ApplicationError(_("Nothing logged today, so nothing to delete."))
    if not 1 <= number <= len(entries):
        raise ApplicationError(_("Choose an entry from 1 to {n}, as /today numbers them, e.g. /delete 1").format(
            n=len(entries)))
    entry = entries[number - 1]
    deleted, _by_model = FoodEntry.objects.filter(pk=entry["id"], user_id=user_id).delete()
    if not deleted:  # removed meanwhile (another /undo): say so rather than pretend
        raise ApplicationError(_("That entry was already removed. See the day with /today"))
    return entry


def food_correct(*, user_id: int, entry_id: int, grams: Decimal, said: str,
                 food: dict | None = None) -> tuple[dict, FoodEntry]:
    """Change the amount of one of the user's entries ("the butter was only 10 g"): grams, the
    words it is shown with, and its nutrients — from `food`'s per-100 g values when the food is
    given (the same food, looked up again), else scaled from the entry's own rounded values.
    (old values, entry)."""
    with transaction.atomic():
        entry = FoodEntry.objects.select_for_update().filter(pk=entry_id, user_id=user_id).first()
        if entry is None:
            raise ApplicationError(_("That entry was removed meanwhile. See the day with /today"))
        old = {"grams": entry.grams, "kcal": entry.kcal, "said": entry.said, "description": entry.description}
        ratio = grams / entry.grams
        for name in ("kcal", "protein", "fat", "carbs"):
            value = getattr(entry, name)
            if food is not None and food.get("fdc_id") == entry.fdc_id and food.get(name) is not None:
                setattr(entry, name, _scaled(food[name], grams))
            elif value is not None:
                setattr(entry, name, (value * ratio).quantize(TENTH, rounding=ROUND_HALF_UP))
        entry.grams, entry.said = grams, said[:120]
        entry.save(update_fields=["grams", "said", "kcal", "protein", "fat", "carbs"])
    return old, entry
