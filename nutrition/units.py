"""Units: the amounts users type after /log, and the units FDC reports nutrients in.

Kept apart from the HTTP client and the diary so both conversions are plain tables one can read and
test without Django.
"""

from __future__ import annotations

import math
from decimal import Decimal

# Mass: grams per unit.
GRAMS_PER_UNIT: dict[str, Decimal] = {
    **dict.fromkeys(("g", "gr", "gram", "grams", "gramme", "grammes", "grm"), Decimal(1)),
    **dict.fromkeys(("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"), Decimal(1000)),
    **dict.fromkeys(("oz", "ounce", "ounces"), Decimal("28.349523125")),
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), Decimal("453.59237")),
    # The small amounts people put on or in something: a pat of butter is about 5 g (USDA's "1 pat"
    # is 5 g), a knob twice that.
    **dict.fromkeys(("pat", "pats"), Decimal(5)),
    **dict.fromkeys(("knob", "knobs"), Decimal(10)),
}

# Mass units that are household measures, shown as said ("a pat of butter (5 g)"), not as grams.
HOUSEHOLD_MASS = frozenset({"pat", "pats", "knob", "knobs"})

# Volume: millilitres per unit. Cup, tablespoon, teaspoon and fluid ounce are the US customary
# measures FDC's household portions use (1 cup = 8 fl oz = 236.6 ml). A glass has no standard size:
# 250 ml is the common one. Volume becomes grams only through the food's density (nutrition.portions).
ML_PER_UNIT: dict[str, Decimal] = {
    **dict.fromkeys(("ml", "mls", "milliliter", "milliliters", "millilitre", "millilitres", "mlt"), Decimal(1)),
    **dict.fromkeys(("cl", "centiliter", "centilitre", "centiliters", "centilitres"), Decimal(10)),
    **dict.fromkeys(("dl", "deciliter", "decilitre", "deciliters", "decilitres"), Decimal(100)),
    **dict.fromkeys(("l", "liter", "liters", "litre", "litres"), Decimal(1000)),
    **dict.fromkeys(("tsp", "tsps", "teaspoon", "teaspoons"), Decimal("4.92892")),
    **dict.fromkeys(("tbsp", "tbsps", "tbs", "tablespoon", "tablespoons"), Decimal("14.7868")),
    **dict.fromkeys(("cup", "cups"), Decimal("236.588")),
    **dict.fromkeys(("floz", "fl oz", "fl.oz", "fluid ounce", "fluid ounces"), Decimal("29.5735")),
    **dict.fromkeys(("glass", "glasses"), Decimal(250)),
    **dict.fromkeys(("mug", "mugs"), Decimal(300)),
    # Splashes, dashes and spoonfuls have no standard either: the sizes people mean most often.
    **dict.fromkeys(("splash", "splashes"), Decimal(30)),
    **dict.fromkeys(("dash", "dashes", "drizzle", "drop"), Decimal(5)),
    **dict.fromkeys(("spoon", "spoons", "spoonful", "spoonfuls", "teaspoonful"), Decimal("4.92892")),
    **dict.fromkeys(("tablespoonful", "dollop", "dollops"), Decimal("14.7868")),
}

# Household pieces, weighed per food (FDC's portions or nutrition.portions' table). "item" is a
# count of the food itself: "2 eggs", "a banana".
PIECES: dict[str, str] = {
    **dict.fromkeys(("slice", "slices"), "slice"),
    **dict.fromkeys(("piece", "pieces", "pc", "pcs"), "item"),
    **dict.fromkeys(("serving", "servings", "portion", "portions", "helping", "helpings"), "serving"),
    **dict.fromkeys(("bowl", "bowls"), "bowl"),
    **dict.fromkeys(("handful", "handfuls"), "handful"),
}
ACCEPTED_UNITS = ("g, kg, oz, lb, pat; ml, l, tsp, tbsp, cup, glass, mug, splash; "
                  "slice, piece, serving, bowl, handful")


def canonical_unit(word: str) -> tuple[str, Decimal | None] | None:
    """("g", grams per unit) | ("ml", ml per unit) | (piece name, None); None for a non-unit word."""
    word = word.strip().casefold()
    word = word if word in ML_PER_UNIT else word.rstrip(".")
    if word in GRAMS_PER_UNIT:
        return "g", GRAMS_PER_UNIT[word]
    if word in ML_PER_UNIT:
        return "ml", ML_PER_UNIT[word]
    if word in PIECES:
        return PIECES[word], None
    return None


def grams_per_unit(unit: str) -> Decimal | None:
    """Grams in one mass `unit` ("g", "Kg", "ounces", …), or None for any other word."""
    return GRAMS_PER_UNIT.get(unit.strip().casefold().rstrip("."))


# FDC gives each nutrient's unit as upper-case text (KCAL, KJ, G, MG, UG). Energy sometimes arrives
# in kJ (nutrient 1062, and 1008 on a few branded foods), so it is converted rather than trusted.
_FACTORS: dict[tuple[str, str], float] = {
    ("KCAL", "KCAL"): 1.0,
    ("KJ", "KCAL"): 1 / 4.184,
    ("G", "G"): 1.0,
    ("MG", "G"): 1e-3,
    ("UG", "G"): 1e-6,
    ("MG", "MG"): 1.0,
    ("G", "MG"): 1e3,
    ("UG", "MG"): 1e-3,
}

# Per 100 g nothing exceeds these (pure fat is ~900 kcal, table salt ~39 000 mg sodium). Branded
# entries occasionally carry per-package values by mistake; such a value is dropped, not believed.
_MAX_PER_100_G: dict[str, float] = {"KCAL": 1000.0, "G": 105.0, "MG": 40_000.0}


def convert_nutrient(value: object, unit: object, target: str) -> float | None:
    """`value` in `unit` as a finite, plausible amount per 100 g in `target`, or None.

    A missing unit is taken to be `target`; an unknown unit, a non-number (bool included), a
    negative, infinite or implausibly large value gives None.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # a JSON integer too large for a float
        return None
    source = unit.strip().upper() if isinstance(unit, str) and unit.strip() else target
    factor = _FACTORS.get((source, target))
    if factor is None or not math.isfinite(number) or number < 0:
        return None
    if factor != 1.0:
        number = round(number * factor, 3)
    if number > _MAX_PER_100_G[target]:
        return None
    return number
