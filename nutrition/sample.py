"""The offline sample data set (NUTRITION_PROVIDER=sample): ~70 common foods, per 100 g.

Values follow USDA SR Legacy for the food named (to within rounding; good for trying the bot, not
for clinical use). `fdc_id` is the food's SR Legacy id where known; ids from 9 000 001 up are local
to this file (no FDC food has such an id today). Every food says "source": "sample", so replies can
label it as sample data.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path

from django.utils.translation import gettext_lazy

# Said with every "not found" from this data set: the user should know it is small, and how to get more.
OFFLINE_NOTE = gettext_lazy(
    "I only searched the offline sample data set (about 70 everyday foods, English names). Live "
    "USDA FoodData Central lookups cover far more: the operator enables them with USDA_API_KEY "
    "(free at fdc.nal.usda.gov/api-key-signup) and NUTRITION_PROVIDER=usda."
)
DATA_FILE = Path(__file__).resolve().parent / "data" / "sample_foods.json"
_NUTRIENTS = ("kcal", "protein", "fat", "carbs", "fiber", "sugars", "sodium_mg")
# Words that would match half the data set and say nothing about the food.
_STOP_WORDS = frozenset({"a", "an", "and", "the", "of", "with", "in", "or", "to", "for", "some"})


def tokens(text: str) -> list[str]:
    """Search words of `text`: NFKC, case-folded, split on non-word characters, plurals folded.

    Both sides of a match go through this, so the crude stemming only has to be consistent:
    "Bananas" → banana, "berries" → berry, "tomatoes" → tomato, "peaches" → peach, "glass" stays.
    """
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())
    return [_singular(word) for word in words]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("oes", "ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


@functools.cache
def _foods() -> tuple[tuple[dict, frozenset[str], tuple[str, ...]], ...]:
    """(food dict, all its search words, words of its first comma part) for each food, loaded once."""
    loaded = []
    for raw in json.loads(DATA_FILE.read_text(encoding="utf-8")):
        food = {
            "fdc_id": int(raw["fdc_id"]),
            "description": raw["description"],
            "data_type": "Sample",
            "brand": None,
            **{name: None if raw[name] is None else float(raw[name]) for name in _NUTRIENTS},
            "serving_size": None,
            "serving_unit": None,
            "portions": {},  # nutrition.portions' table covers these foods
            "source": "sample",
        }
        words = tokens(" ".join([raw["description"], *raw.get("keywords", ())]))
        head = tuple(tokens(raw["description"].split(",")[0]))
        loaded.append((food, frozenset(words), head))
    return tuple(loaded)


@functools.cache
def _keywords() -> dict[int, tuple[str, ...]]:
    return {int(raw["fdc_id"]): tuple(raw.get("keywords", ())) for raw in json.loads(DATA_FILE.read_text("utf-8"))}


def other_names(food: dict) -> tuple[str, ...]:
    """The other names a sample food is known by ("toast" for white bread): a match on them is as
    good as one on its description. () for any other food."""
    return _keywords().get(food.get("fdc_id") or 0, ()) if food.get("source") == "sample" else ()


class SampleProvider:
    """Searches the sample data set; same interface as FDCClient."""

    def search(self, query: str, *, page_size: int) -> list[dict]:
        """Foods matching `query`, best first, at most `page_size`; [] when no word matches.

        Foods with every query word come first, then those with most of them; among equals a food
        whose name starts with a query word ("Milk, whole…" for "milk", not "Yogurt, … whole milk")
        wins, then the data file's order, which lists the everyday variant first.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        wanted = set(tokens(query))
        wanted = (wanted - _STOP_WORDS) or wanted
        if not wanted:
            return []
        ranked = []
        for index, (food, words, head) in enumerate(_foods()):
            hits = len(wanted & words)
            if hits:
                starts_with_query = bool(head) and head[0] in wanted
                ranked.append((-hits, not starts_with_query, index, food))
        ranked.sort(key=lambda item: item[:3])
        return [dict(food) for *_, food in ranked[:page_size]]
