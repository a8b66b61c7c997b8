"""Whether a food found for a phrase is the food that was said.

A search ranks foods by shared words, so "red wine" finds "Grapes, red or green" through "red", and
"apple juice" may find "Orange juice". Logging that would record a different food than the person
ate. A match counts only when the phrase's food noun (its last content word: "wine", "juice",
"breast") is one of the food's words, and every other word of the phrase that names a food ("apple"
in "apple juice") is too. Adjectives ("red", "scrambled", "greek") may be missing.
"""

from __future__ import annotations

import functools
import json
import re

from nutrition.portions import ADDITIONS, PORTIONS, TABLE
from nutrition.sample import DATA_FILE, other_names, tokens

# Words that are not a food's name: a phrase's noun is the last word that is not one of these.
_NOT_NOUNS = frozenset({
    "a", "an", "and", "the", "of", "with", "in", "or", "to", "for", "some", "my", "on", "it", "its",
    "fresh", "raw", "cooked", "boiled", "fried", "grilled", "roasted", "baked", "steamed", "scrambled",
    "poached", "mashed", "toasted", "plain", "homemade", "hot", "cold", "warm", "iced", "large", "small",
    "big", "medium", "little", "whole", "half", "organic", "lean", "leftover", "extra", "more",
})
# Food names beyond the data set's own: a phrase word among these must be matched as well.
_MORE_FOODS = ("wine beer cider vodka whisky gin rum juice soda cola lemonade smoothie latte cappuccino "
               "sandwich burger pizza soup pie cake cookie muffin croissant bagel pancake waffle jam "
               "cream ketchup mayonnaise sauce apple orange banana grape cherry peach lemon lime melon "
               "chicken beef pork lamb fish ham bacon sausage turkey egg rice pasta bread potato bean")


@functools.cache
def food_vocabulary() -> frozenset[str]:
    """Every word that names a food: the sample foods' first words and keywords, the portion
    tables' words, and common foods FDC has."""
    words: set[str] = set(tokens(_MORE_FOODS))
    for raw in json.loads(DATA_FILE.read_text(encoding="utf-8")):
        parts = raw["description"].split(",")
        words.update(tokens(parts[0]))
        if tokens(parts[0])[:1] in (["fish"], ["nut"], ["beverage"], ["cheese"], ["bean"], ["oil"]) and len(parts) > 1:
            words.update(tokens(parts[1]))  # "Fish, salmon": salmon names the food
        for keyword in raw.get("keywords", ()):
            words.update(tokens(keyword))
    for word in (*TABLE, *PORTIONS, *ADDITIONS):
        words.update(tokens(word))
    return frozenset(words - _NOT_NOUNS)


def content_words(query: str) -> list[str]:
    return [word for word in tokens(query) if word not in _NOT_NOUNS and not word.isdigit()]


# How a food was made is not what it is: "coffee, brewed, prepared with tap water" is no water,
# "tuna, canned in water" no water either.
_HOW_MADE = re.compile(r"\b(?:prepared |cooked |canned |packed )?(?:with|without|in)\b[^,]*", re.IGNORECASE)


def _named(description: str) -> str:
    return _HOW_MADE.sub("", description)


def is_same_food(query: str, food: dict) -> bool:
    """True when `food` is what `query` names (see the module's docstring)."""
    words = content_words(query)
    if not words:
        return True  # nothing to check against: the search's best answer stands
    names = set(tokens(" ".join([_named(str(food.get("description") or "")), *other_names(food)])))
    head = words[-1]
    if head not in names:
        return False
    vocabulary = food_vocabulary()
    return all(word in names for word in words[:-1] if word in vocabulary)


def best_match(query: str, foods: list[dict]) -> dict | None:
    """The first of `foods` (best first) that is the food `query` names, or None."""
    return next((food for food in foods if is_same_food(query, food)), None)
