"""Nutrition writes: logging food to the diary."""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from healthagent.errors import ApplicationError
from memory.models import Profile
from nutrition import selectors
from nutrition.models import FoodEntry
from nutrition.units import ACCEPTED_UNITS, grams_per_unit

MAX_GRAMS = Decimal(5000)
TENTH = Decimal("0.1")
BAD_AMOUNT = "Amount must be a number of grams between 0 and 5000, like /log 150 g banana"
# Plain decimals only: no signs, exponents, "nan" or "inf", so no non-finite value gets this far.
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


def parse_amount(amount: str, unit: str) -> Decimal:
    """`amount` `unit` in grams, rounded to 0.1 g: ("150", "g") → 150.0, ("1,5", "kg") → 1500.0.

    Units: g/gram(s), kg, oz, lb and ml — ml counts as grams (exact for water, close for milk,
    juice and coffee). A comma works as the decimal point. Anything else, and amounts that are not
    above 0 g or are over 5000 g, raise ApplicationError saying what is accepted.
    """
    # NFKC turns full-width digits into ASCII ones; the length cap keeps Decimal work trivial.
    text = unicodedata.normalize("NFKC", amount).strip().replace(",", ".")
    if len(text) > 20 or not _NUMBER.fullmatch(text):
        raise ApplicationError(BAD_AMOUNT)  # checked first: in "/log lots of rice" the amount is wrong
    factor = grams_per_unit(unit)
    if factor is None:
        raise ApplicationError(
            f"I can't weigh in “{unit.strip()[:20]}”: use {ACCEPTED_UNITS}, like /log 150 g banana"
        )
    grams = (Decimal(text) * factor).quantize(TENTH, rounding=ROUND_HALF_UP)
    if not Decimal(0) < grams <= MAX_GRAMS:
        raise ApplicationError(BAD_AMOUNT)
    return grams


def food_log(*, user_id: int, amount: str, unit: str, query: str) -> FoodEntry:
    """Log `amount` `unit` of the best match for `query` to the user's diary; return the entry.

    Nutrients are the food's per-100 g values scaled to the amount, rounded to 0.1. Raises
    ApplicationError — and stores nothing — for a bad amount, an unknown user, no matching food or a
    top match without an energy value.
    """
    grams = parse_amount(amount, unit)
    # Checked before the lookup so an unknown user costs no upstream call.
    if not Profile.objects.filter(telegram_id=user_id).exists():
        raise ApplicationError("I don't know you yet: send /start first, then log food.", status=404)
    foods = selectors.search_foods(query=query, limit=1)
    if not foods:
        raise ApplicationError(
            f"No food matched “{query.strip()}”, so nothing logged. Try a simpler name, like /log 150 g banana"
        )
    food = foods[0]
    if food.get("kcal") is None:
        raise ApplicationError(
            f"“{food['description']}” has no energy value in the food data, so nothing logged. "
            "Try a more specific name."
        )
    try:
        # The entry is one row: it is written whole or not at all, and cache invalidation hooked
        # to on_commit runs only once it is really there.
        with transaction.atomic():
            return FoodEntry.objects.create(
                user_id=user_id,
                fdc_id=food.get("fdc_id"),
                description=food["description"][:255],
                grams=grams,
                **{name: _scaled(food.get(name), grams) for name in ("kcal", "protein", "fat", "carbs")},
            )
    except IntegrityError:  # the profile was deleted (/forget) between the check and the insert
        raise ApplicationError("I don't know you yet: send /start first, then log food.", status=404) from None


def _scaled(per_100_g: float | None, grams: Decimal) -> Decimal | None:
    """A per-100 g value for `grams`, rounded to 0.1 (None stays None: unknown is not zero)."""
    if per_100_g is None:
        return None
    return (Decimal(str(per_100_g)) * grams / 100).quantize(TENTH, rounding=ROUND_HALF_UP)
