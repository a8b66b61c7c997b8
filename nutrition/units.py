"""Units: the amounts users type after /log, and the units FDC reports nutrients in.

Kept apart from the HTTP client and the diary so both conversions are plain tables one can read and
test without Django.
"""

from __future__ import annotations

import math
from decimal import Decimal

# Grams per unit a user may type after /log. ml counts as grams: exact for water and within a few
# per cent for milk, juice and coffee — the things people log by volume — while the food data itself
# is per 100 g, so a density table would buy little precision for a lot of guessing.
GRAMS_PER_UNIT: dict[str, Decimal] = {
    **dict.fromkeys(("g", "gr", "gram", "grams", "gramme", "grammes"), Decimal(1)),
    **dict.fromkeys(("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"), Decimal(1000)),
    **dict.fromkeys(("oz", "ounce", "ounces"), Decimal("28.349523125")),
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), Decimal("453.59237")),
    **dict.fromkeys(("ml", "milliliter", "milliliters", "millilitre", "millilitres"), Decimal(1)),
}
ACCEPTED_UNITS = "g, kg, oz, lb or ml"


def grams_per_unit(unit: str) -> Decimal | None:
    """Grams in one `unit` ("g", "Kg", "ounces", …), or None for a unit we do not accept."""
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
