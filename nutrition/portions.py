"""From "2 eggs", "1 tbsp olive oil" or "a slice of bread" to grams, for the food that was found.

Food data is per 100 g, so every amount ends in grams:
- mass units convert exactly;
- counts and household pieces (item, slice, serving, bowl, handful) use the food's own FDC portions
  (`foodMeasures` of SR Legacy/FNDDS foods, or a branded food's `servingSize` with its
  `householdServingFullText`), else the table below;
- volumes go through the food's density: FDC's portions again, else the table; a food whose density
  is unknown is refused with the reason — ml are never silently taken as grams.

The table holds typical weights from FDC SR Legacy household portions (rounded), for foods people
log by count or by cup. "cup" is a US cup (236.6 ml) and gives the food's density; a cooked food's
cup is the cooked food's (the sample data set's rice and pasta are cooked).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _, gettext_lazy

from healthagent.errors import ApplicationError
from nutrition.amounts import Amount, split_amount
from nutrition.sample import tokens
from nutrition.units import ML_PER_UNIT

CUP_ML = ML_PER_UNIT["cup"]
MAX_GRAMS = Decimal(5000)
TENTH = Decimal("0.1")
TOO_MUCH = gettext_lazy("That is more than 5 kg in one entry: log it in parts, or check the amount (like /log 150 g "
                        "banana).")

# food word → {"cup": grams per US cup, "item": grams per piece, "slice": …, "handful": …}
TABLE: dict[str, dict[str, float]] = {
    "egg": {"item": 50, "cup": 243},
    "banana": {"item": 118, "cup": 150},
    "apple": {"item": 182, "cup": 125},
    "orange": {"item": 131, "cup": 180},
    "pear": {"item": 178, "cup": 140},
    "peach": {"item": 150, "cup": 154},
    "avocado": {"item": 150, "cup": 150},
    "kiwi": {"item": 69},
    "lemon": {"item": 58},
    "strawberry": {"item": 12, "cup": 152},
    "blueberry": {"cup": 148},
    "grape": {"item": 5, "cup": 151},
    "watermelon": {"slice": 286, "cup": 152},
    "pineapple": {"slice": 84, "cup": 165},
    "tomato": {"item": 123, "cup": 180},
    "potato": {"item": 213},
    "sweet potato": {"item": 130},
    "onion": {"item": 110, "cup": 160},
    "carrot": {"item": 61, "cup": 128},
    "cucumber": {"item": 301, "cup": 119},
    "pepper": {"item": 119, "cup": 149},
    "mushroom": {"item": 18, "cup": 70},
    "broccoli": {"cup": 91},
    "spinach": {"cup": 30},
    "lettuce": {"cup": 36},
    "salad": {"cup": 36},
    "pea": {"cup": 160},
    "corn": {"cup": 164},
    "rice": {"cup": 158},
    "oat": {"cup": 81},
    "oatmeal": {"cup": 234},
    "porridge": {"cup": 234},
    "pasta": {"cup": 140},
    "spaghetti": {"cup": 140},
    "noodle": {"cup": 160},
    "quinoa": {"cup": 185},
    "couscous": {"cup": 157},
    "bread": {"slice": 25, "item": 25},
    "toast": {"slice": 25, "item": 25},
    "pizza": {"slice": 107},
    "milk": {"cup": 244},
    "yogurt": {"cup": 245, "item": 170},
    "yoghurt": {"cup": 245, "item": 170},
    "cheese": {"slice": 28, "cup": 113},
    "butter": {"cup": 227},
    "peanut butter": {"cup": 256},
    "almond": {"item": 1.2, "cup": 143, "handful": 28},
    "walnut": {"cup": 117, "handful": 28},
    "peanut": {"cup": 146, "handful": 28},
    "nut": {"handful": 28},
    "lentil": {"cup": 198},
    "chickpea": {"cup": 164},
    "bean": {"cup": 172},
    "hummus": {"cup": 246},
    "chicken breast": {"item": 172},
    "coffee": {"item": 237, "cup": 237},
    "espresso": {"item": 30, "cup": 237},
    "tea": {"item": 237, "cup": 237},
    "juice": {"item": 248, "cup": 248},
    "water": {"item": 237, "cup": 237},
    "oil": {"cup": 216},
    "honey": {"cup": 339},
    "sugar": {"cup": 200, "item": 4.2},  # "2 sugars" in a coffee: two teaspoons (or cubes)
}
# A bowl has no standard size: one and a half US cups (355 ml) is a usual cereal or soup bowl, so
# "a bowl of oatmeal" is that volume of the food.
BOWL_ML = CUP_ML * Decimal("1.5")

# What "I had rice" means when no amount is said: a typical portion, which the reply says it
# assumed. A food not here and not counted in pieces (butter, oil, meat, cheese, chocolate…) has no
# portion one could assume: the bot asks how much instead of guessing.
PORTIONS: dict[str, str] = {
    **dict.fromkeys(("rice", "pasta", "spaghetti", "noodle", "quinoa", "couscous", "oatmeal", "porridge",
                     "broccoli", "spinach", "lettuce", "salad", "pea", "corn", "lentil", "chickpea", "bean",
                     "strawberry", "blueberry", "grape", "milk", "yogurt", "yoghurt"), "1 cup"),
    "oat": "1/2 cup",
    **dict.fromkeys(("coffee", "tea", "espresso", "juice", "water"), "1"),
    **dict.fromkeys(("almond", "walnut", "peanut", "nut"), "a handful"),
    **dict.fromkeys(("bread", "toast", "pizza", "cheese"), "a slice"),
}

# What comes with something ("toast with butter", "coffee with milk and sugar") when no amount is
# said: the usual addition, never the unit of the main food (a cup of butter was the old bug).
ADDITIONS: dict[str, str] = {
    **dict.fromkeys(("butter", "margarine"), "a pat"),
    "milk": "a splash",
    "cream": "1 tbsp",
    **dict.fromkeys(("sugar", "honey"), "1 tsp"),
    **dict.fromkeys(("olive oil", "oil", "peanut butter", "jam", "ketchup", "mayonnaise", "mayo"), "1 tbsp"),
    **dict.fromkeys(("hummus", "yogurt", "yoghurt"), "2 tbsp"),
    "cheese": "a slice",
}
# Said with a food but nothing to count ("eggs with salt and pepper"): not looked up, not logged.
# Drinks with nothing to count, said on their own: "a glass of water" is not looked up either.
NOTHING_TO_COUNT = frozenset({"water", "sparkling", "tap", "mineral", "still", "ice", "glass", "bottle"})
NEGLIGIBLE = frozenset({"salt", "pepper", "salt and pepper", "spice", "herb", "ice", "water", "sweetener",
                        "stevia", "cinnamon", "vinegar", "lemon", "lime", "mustard", "garlic", "chili"})

PIECE_NAMES = {"item": gettext_lazy("one"), "slice": gettext_lazy("a slice of"),
               "serving": gettext_lazy("a serving of"), "bowl": gettext_lazy("a bowl of"),
               "handful": gettext_lazy("a handful of")}


def _table_measures(*texts: str) -> dict[str, Decimal]:
    """The table's measures for the first food word found: two-word names first, the last word
    before earlier ones ("orange juice" → juice, "chicken breast" as a whole)."""
    for text in texts:
        words = tokens(text)
        candidates = [" ".join(pair) for pair in zip(words, words[1:])] + words[::-1]
        for word in candidates:
            if word in TABLE:
                return _as_measures(TABLE[word])
    return {}


def _as_measures(entry: dict[str, float]) -> dict[str, Decimal]:
    measures = {name: Decimal(str(grams)) for name, grams in entry.items() if name != "cup"}
    if "cup" in entry:
        measures["ml"] = Decimal(str(entry["cup"])) / CUP_ML
    return measures


def measures_of(food: dict, query: str) -> dict[str, Decimal]:
    """Grams per piece ("item", "slice"…) and per ml ("ml") for `food`: FDC's own portions win."""
    measures = _table_measures(query, food.get("description", "").split(",")[0])
    measures.update({name: Decimal(str(grams)) for name, grams in (food.get("portions") or {}).items()})
    if food.get("serving_unit") == "g" and food.get("serving_size") and "serving" not in measures:
        measures["serving"] = Decimal(str(food["serving_size"]))
    if "bowl" not in measures and "ml" in measures:
        measures["bowl"] = (BOWL_ML * measures["ml"]).quantize(TENTH)
    return measures


def table_word(*texts: str) -> str | None:
    """The table word (TABLE, PORTIONS or ADDITIONS) a food phrase is about, found as
    _table_measures finds it: "orange juice" → juice, "chicken breast" as a whole."""
    known = TABLE.keys() | PORTIONS.keys() | ADDITIONS.keys()
    for text in texts:
        words = tokens(text)
        for word in [" ".join(pair) for pair in zip(words, words[1:])] + words[::-1]:
            if word in known:
                return word
    return None


def typical_amount(food: dict, query: str, *, addition: bool = False) -> Amount | None:
    """The amount assumed when none was said, or None when there is none to assume (ask instead).

    An addition ("with butter") gets its usual addition; a food gets its usual portion, else one
    piece when it comes in pieces and was named in the singular ("toast", "banana"; "eggs" asks how
    many), else a branded food's serving."""
    word = table_word(query, food.get("description", "").split(",")[0])
    if addition and word in ADDITIONS:
        return split_amount(ADDITIONS[word])[0]
    if word in PORTIONS:
        return split_amount(PORTIONS[word])[0]
    measures = measures_of(food, query)
    last = query.split()[-1].casefold() if query.split() else ""
    if "item" in measures and tokens(last) == [last]:  # "banana", not "bananas"
        return Amount(quantity=Decimal(1), unit="item", text="1")
    if "serving" in measures:
        return Amount(quantity=Decimal(1), unit="serving", text="1 serving")
    return None


def ask_examples(food: dict, query: str) -> str:
    """"10 g, 1 tsp or a pat": amounts the user could answer with, for this food."""
    word = table_word(query, food.get("description", "").split(",")[0])
    if word in ("butter", "margarine"):
        return _("10 g, 1 tsp or a pat")
    measures = measures_of(food, query)
    examples = ["150 g"]
    if "item" in measures:
        examples.insert(0, "2")
    if "slice" in measures:
        examples.append(_("2 slices"))
    if "ml" in measures:
        examples.append(_("1 cup") if word not in ADDITIONS else _("1 tbsp"))
    return (_("{first} or {last}").format(first=", ".join(examples[:-1]), last=examples[-1]) if len(examples) > 1
            else examples[0])


class Unweighable(ApplicationError):
    """The amount was read but this food's measure for it is unknown (ml without a density, a
    piece without a weight): free text asks for grams instead."""


def grams_of(amount: Amount, *, food: dict, query: str) -> Decimal:
    """`amount` of `food` in grams (0.1 g), or ApplicationError saying why it cannot be weighed."""
    if not amount.quantity.is_finite() or amount.quantity > MAX_GRAMS * 1000:
        raise ApplicationError(TOO_MUCH)  # before any arithmetic: 1e30 g overflows quantize
    if amount.unit == "g":
        grams = amount.quantity * amount.factor
    else:
        measures = measures_of(food, query)
        name = query.strip() or food["description"]
        if amount.unit == "ml":
            if "ml" not in measures:
                raise Unweighable(
                    _("I can't turn {amount} of {food} into grams: I don't know how dense it is, and the food data "
                      "is per 100 g. Log it by weight, like /log 250 g {food}").format(amount=amount.text, food=name))
            grams = amount.quantity * amount.factor * measures["ml"]
        elif amount.unit in measures:
            grams = amount.quantity * measures[amount.unit]
        else:
            raise Unweighable(
                _("I don't know what {piece} {food} weighs. Log it by weight, like /log 150 g {food}").format(
                    piece=PIECE_NAMES.get(amount.unit, PIECE_NAMES["item"]), food=name)
                + (_(" or /log 1 cup {food}").format(food=name) if "ml" in measures else ""))
    if grams > MAX_GRAMS * 1000:
        raise ApplicationError(TOO_MUCH)
    grams = grams.quantize(TENTH, rounding=ROUND_HALF_UP)
    if grams > MAX_GRAMS and amount.unit == "item" and amount.text.isdigit():
        # "/log 150 banana" is 150 g far more often than 150 bananas.
        raise ApplicationError(f"{amount.text} of them would be {grams / 1000:.1f} kg. Did you mean grams? "
                               f"Then send /log {amount.text} g {query.strip()}")
    if grams > MAX_GRAMS:
        raise ApplicationError(TOO_MUCH)
    if grams <= 0:
        raise ApplicationError("That rounds to 0 g: log at least 0.1 g, like /log 150 g banana")
    return grams


# --- FDC's portions ----------------------------------------------------------------------------------

def fdc_portions(raw: dict) -> dict[str, float]:
    """Grams per piece and per ml from one FDC search food (JSON-native, for the cached food dict).

    `foodMeasures` ("1 cup" = 158 g, "1 large" = 50 g) come with SR Legacy and FNDDS foods; branded
    foods give one serving in grams and its household text ("1 1/2 cup", "1 pouch (26g)").
    Branded drinks labelled in ml are per 100 ml in FDC, so for them a ml counts as a gram.
    """
    found: dict[str, float] = {}
    for measure in raw.get("foodMeasures") or ():
        if isinstance(measure, dict):
            _add(found, measure.get("disseminationText"), measure.get("gramWeight"))
    for portion in raw.get("foodPortions") or ():  # the same, as a food's detail record spells it
        if isinstance(portion, dict):
            _add(found, _portion_text(portion), portion.get("gramWeight"))
    size, unit = raw.get("servingSize"), str(raw.get("servingSizeUnit") or "").strip().upper()
    if _positive(size) and unit in ("G", "GRM"):
        _add(found, raw.get("householdServingFullText"), size, serving=True)
    elif _positive(size) and unit in ("ML", "MLT"):
        found.setdefault("ml", 1.0)
    return found


def _portion_text(portion: dict) -> str | None:
    """"1 cup", "1 large" from a foodPortions entry (portionDescription, else amount + unit/modifier)."""
    if isinstance(portion.get("portionDescription"), str) and portion["portionDescription"].strip():
        return portion["portionDescription"]
    unit = portion.get("measureUnit") if isinstance(portion.get("measureUnit"), dict) else {}
    name = unit.get("name") if unit.get("name") not in (None, "", "undetermined") else portion.get("modifier")
    amount = portion.get("amount") if _positive(portion.get("amount")) else 1
    return f"{amount:g} {name}" if isinstance(name, str) and name.strip() else None


def _add(found: dict[str, float], text: object, grams: object, *, serving: bool = False) -> None:
    if serving and _positive(grams):
        found.setdefault("serving", float(grams))
    if not isinstance(text, str) or not _positive(grams):
        return
    try:
        amount, rest = split_amount(text[:60])
    except ApplicationError:
        return
    if amount is None:
        return
    per_unit = Decimal(str(grams)) / amount.quantity
    if amount.unit == "ml":
        found.setdefault("ml", round(float(per_unit / amount.factor), 4))
    elif amount.unit == "g":
        return
    elif "serving" in rest:
        found.setdefault("serving", round(float(per_unit), 1))
    elif amount.unit == "item" and "medium" in rest:  # the typical piece wins over "1 large"
        found["item"] = round(float(per_unit), 1)
    else:
        found.setdefault(amount.unit, round(float(per_unit), 1))


def _positive(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < 1e6
