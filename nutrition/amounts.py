"""Amounts as people write them: "100g banana", "1.5 kg rice", "½ cup oats", "a slice of bread",
"half an avocado", "2 eggs", "1 1/2 cups milk".

`split_amount` separates the amount from the food; turning it into grams needs the food found
(nutrition.portions). Plain decimals and fractions only: "1e2" is refused here as in /set.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.utils.translation import gettext as _, gettext_lazy, gettext_noop

from healthagent.errors import ApplicationError
from nutrition.units import HOUSEHOLD_MASS, canonical_unit

BAD_AMOUNT = gettext_noop("Amount must be a plain number more than 0 (150, 1.5, 1/2 or a word like “a” or “half”), "
                          "like /log 150 g banana or /log 2 eggs")  # a str: translated where raised
TOO_BIG = gettext_lazy("That amount is far more than one entry can be: check the number, like /log 150 g banana.")
VAGUE = gettext_lazy("How much is “{word}”? Give a number, like /log 150 g {food} or /log 1 {food}")

_VULGAR = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅛": "1/8", "⅜": "3/8",
           "⅝": "5/8", "⅞": "7/8", "⅙": "1/6"}
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "half": Fraction(1, 2),
          "quarter": Fraction(1, 4), "dozen": 12, "couple": 2}
_VAGUE = frozenset({"some", "lots", "lot", "few", "bit", "little", "loads", "much", "many", "several"})
VAGUE_WORDS = _VAGUE
# "2 1/2", "1/2", "1.5", "1,5", ".5", "12." — then what follows must be a space or a unit glued on.
_NUMBER = re.compile(r"(\d+ \d+/\d+|\d+/\d+|\d+[.,]\d+|[.,]\d+|\d+\.?)(?=$|[ a-z])", re.ASCII)
_GLUED = re.compile(r"([a-z.]+)(?= |$)")
# An amount after the food: "chicken breast 200g", "rice, 150 g", "oats (40 g)", "eggs x2".
_TRAILING = re.compile(r"^(?P<food>.*?[a-z].*?)[\s,:(-]+(?:x\s*)?(?P<amount>(?:\d+ \d+/\d+|\d+/\d+|\d+[.,]\d+|[.,]\d+|\d+)"
                       r"(?:\s*(?P<unit>[a-z.]+(?: oz)?))?)\s*\)?$", re.ASCII)
# More than this many of anything is not an amount anyone ate; bigger numbers also overflow the
# arithmetic that turns amounts into grams.
MAX_QUANTITY = Decimal(1_000_000)


@dataclass(frozen=True)
class Amount:
    quantity: Decimal  # how many units
    unit: str  # "g", "ml", or a piece: "item" (a count of the food), "slice", "serving", "bowl", "handful"
    factor: Decimal | None = None  # grams or ml per unit, for "g" and "ml"
    text: str = ""  # as the user wrote it, for the confirmation: "100g", "2", "1 tbsp"


def weighed(amount: Amount) -> bool:
    """True when the amount was said in grams, kilos, ounces or pounds: shown as grams."""
    return amount.unit == "g" and amount.text.split()[-1:] != [] and amount.text.split()[-1] not in HOUSEHOLD_MASS


def _clean(text: str) -> str:
    for char, fraction in _VULGAR.items():
        text = text.replace(char, f" {fraction} ")
    text = unicodedata.normalize("NFKC", text).replace("\u2044", "/").casefold()
    return " ".join(text.split())


def _to_decimal(raw: str) -> Decimal:
    raw = raw.replace(",", ".").rstrip(".")
    try:
        if "/" in raw:
            whole, _sep, fraction = raw.rpartition(" ")
            top, bottom = fraction.split("/")
            if int(bottom) == 0:
                raise ApplicationError(_(BAD_AMOUNT))
            value = Fraction(int(top), int(bottom)) + (int(whole) if whole else 0)
            return Decimal(value.numerator) / Decimal(value.denominator)
        value = Decimal(raw)
        if not value.is_finite():
            raise ApplicationError(_(BAD_AMOUNT))
        return value
    except (InvalidOperation, ValueError):
        raise ApplicationError(_(BAD_AMOUNT)) from None


def _leading_quantity(words: list[str]) -> tuple[Decimal | None, int]:
    """(quantity, words used) for a number word phrase at the start: "a", "half an", "a couple of"."""
    if not words or words[0] not in _WORDS:
        return None, 0
    first, used = words[0], 1
    value = Fraction(_WORDS[first])
    nxt = words[1] if len(words) > 1 else ""
    if first in ("a", "an") and nxt in ("half", "quarter", "dozen", "couple"):
        value, used = Fraction(_WORDS[nxt]), 2
    elif first in ("half", "quarter") and nxt in ("a", "an"):
        used = 2  # "half a banana"
    elif words[used:used + 3] in (["and", "a", "half"], ["and", "an", "half"]):
        value, used = value + Fraction(1, 2), used + 3  # "one and a half cups"
    if words[used:used + 1] == ["of"] and words[used - 1] in ("couple", "dozen", "half", "quarter"):
        used += 1
    return Decimal(value.numerator) / Decimal(value.denominator), used


def split_amount(text: str) -> tuple[Amount | None, str]:
    """(amount, food words). Amount is None when the text starts with no amount at all ("banana").

    Raises ApplicationError for a malformed number ("1e2", "-5", "1/0"), zero, or a vague amount
    ("lots of rice").
    """
    clean = _clean(text)
    if match := _NUMBER.match(clean):
        quantity = _to_decimal(match.group(1))
        rest = clean[match.end():]
        if rest[:1] not in ("", " "):  # something glued to the number: a unit or garbage ("1e2")
            glued = _GLUED.match(rest)
            if glued is None or (canonical_unit(glued.group(1)) is None and glued.group(1) != "x"):
                raise ApplicationError(_(BAD_AMOUNT))
        words = rest.split()
        if words[:1] in (["x"], ["×"]):  # "2x eggs", "2 x eggs"
            words = words[1:]
        if words[:3] in (["and", "a", "half"], ["and", "an", "half"]):  # "2 and a half cups"
            quantity, words = quantity + Decimal("0.5"), words[3:]
    elif clean[:1].isdigit() or (clean[:1] in ("+", "-", ".", ",") and clean[1:2].isdigit()):
        raise ApplicationError(_(BAD_AMOUNT))
    else:
        words = clean.split()
        if words[:1] in (["a"], ["an"]) and words[1:2] and words[1] in _VAGUE:  # "a lot of rice"
            food = " ".join(w for w in words[2:] if w != "of")
            raise ApplicationError(VAGUE.format(word=words[1], food=food or "banana"))
        quantity, used = _leading_quantity(words)
        if quantity is None:
            head = words[1] if words[:1] in (["a"], ["an"]) and len(words) > 1 else (words or [""])[0]
            if head in _VAGUE:
                food = " ".join(w for w in words if w not in _VAGUE and w not in ("a", "an", "of"))
                raise ApplicationError(VAGUE.format(word=head, food=food or "banana"))
            return None, clean
        words = words[used:]
    unit: tuple[str, Decimal | None] = ("item", None)
    for size in (2, 1):  # "fl oz" before "oz"
        if len(words) > size - 1 and (found := canonical_unit(" ".join(words[:size]))) is not None:
            unit, words = found, words[size:]
            if words[:1] == ["of"]:
                words = words[1:]
            break
    if quantity <= 0:
        raise ApplicationError(_(BAD_AMOUNT))
    if quantity > MAX_QUANTITY:
        raise ApplicationError(TOO_BIG)
    food = " ".join(words)
    said = clean[: len(clean) - len(food)].strip()
    said = said[:-3] if said.endswith(" of") else said
    return Amount(quantity=quantity, unit=unit[0], factor=unit[1], text=said), food


def split_amount_anywhere(text: str) -> tuple[Amount | None, str]:
    """split_amount, and where the text starts with no amount, an amount at its end: "chicken
    breast 200g" is (200 g, "chicken breast"), "eggs x2" (2, "eggs"). A number at the end that is
    no amount ("7 up"… "coke 0") is left to the food words."""
    amount, food = split_amount(text)
    if amount is not None:
        return amount, food
    match = _TRAILING.match(food)
    if match is None:
        return None, food
    unit = match.group("unit")
    if unit is not None and canonical_unit(unit) is None:
        return None, food
    moved, rest = split_amount(f"{match.group('amount')} {match.group('food')}")
    if moved is None or rest.strip() != match.group("food").strip(" ,:(-"):
        return None, food
    return moved, rest.strip(" ,:(-")
