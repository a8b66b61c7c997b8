"""One item of a meal, understood or not: the food found, the amount said or assumed, and the
grams — or what to ask, or why it cannot be logged. Reads only (cached lookups); logging the
result is nutrition.services.food_log_reading.

The rule is the product's: an item is logged only when the food found is the food that was said
(nutrition.matching) and the amount is known — said, or a typical portion of that food for that
phrase, which the reply then says it assumed. Anything else is asked about, never guessed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from healthagent.errors import ApplicationError
from nutrition import selectors
from nutrition.amounts import Amount, split_amount_anywhere
from nutrition.matching import best_match, content_words, food_vocabulary
from nutrition.phrases import Item, negligible
from nutrition.sample import tokens
from nutrition.portions import NOTHING_TO_COUNT, Unweighable, ask_examples, grams_of, typical_amount


NO_FOOD_NAMED = "no food named"


@dataclass(frozen=True)
class Reading:
    item: Item
    query: str = ""  # the food words: "toast", "olive oil"
    food: dict | None = None
    amount: Amount | None = None  # said, or assumed (then `assumed` says so)
    grams: Decimal | None = None
    assumed: str = ""  # "a usual portion", "usual with toast"
    corrected: str = ""  # a misspelt word read as another: "bananna → banana"
    question: str = ""  # asked instead of logging: "How much butter? e.g. 10 g, 1 tsp or a pat"
    problem: str = ""  # not logged and not asked (no food found, an impossible amount)
    not_found: bool = False
    negligible: bool = False  # salt, pepper: nothing to count

    @property
    def loggable(self) -> bool:
        return self.grams is not None and self.food is not None


# "some rice", "a bit of butter": no amount said, so a typical portion is assumed or the bot asks.
# "lots of rice" is refused with a question by split_amount: a usual portion would be too little.
_SOFT_VAGUE = frozenset({"some", "bit", "little"})


def _amount(text: str) -> tuple[Amount | None, str, str]:
    """(amount, food words, problem)."""
    words = text.split()
    if words[:2] and any(w.casefold() in _SOFT_VAGUE for w in words[:2]) and words[0].casefold() in _SOFT_VAGUE | {"a"}:
        words = [w for w in words if w.casefold() not in _SOFT_VAGUE | {"a", "an"}]
        if words[:1] == ["of"]:
            words = words[1:]
        return None, " ".join(words), ""
    try:
        amount, query = split_amount_anywhere(text)
    except ApplicationError as error:
        return None, "", error.message
    return amount, query, ""


def _spelt(query: str) -> str:
    """`query` with each word that names no food replaced by the food word it is a typo of
    ("bananna" → banana), where one is close enough."""
    vocabulary = sorted(food_vocabulary())
    words = []
    for word in query.split():
        low = word.casefold()
        if len(low) >= 4 and low not in vocabulary and low.rstrip("s") not in vocabulary:
            close = difflib.get_close_matches(low, vocabulary, n=1, cutoff=0.8)
            word = close[0] if close else word
        words.append(word)
    return " ".join(words)


def _before_lookup(item: Item) -> Reading | tuple[Amount | None, str]:
    """What `item` says before any lookup: its Reading when none is needed (nothing to count, an
    amount refused, no food named), else (the amount said, the food words to look up)."""
    if item.addition and negligible(item.text):
        return Reading(item=item, query=item.text, negligible=True)
    said = content_words(item.text)
    if "water" in said and set(said) <= NOTHING_TO_COUNT:  # "a glass of water": 0 kcal, nothing to log
        return Reading(item=item, query=item.text, negligible=True)
    amount, query, problem = _amount(item.text)
    if problem:
        return Reading(item=item, problem=problem)
    if not content_words(query):
        return Reading(item=item, query=query, problem=NO_FOOD_NAMED, not_found=True)
    return amount, query


def lookup_query(item: Item) -> str | None:
    """The food words `read_item` looks up first for `item` (None: it looks nothing up): what a turn
    reads ahead with the user's entries, so it must be the very query read_item searches."""
    before = _before_lookup(item)
    return None if isinstance(before, Reading) else before[1]


def read_item(item: Item) -> Reading:
    before = _before_lookup(item)
    if isinstance(before, Reading):
        return before
    amount, query = before
    foods = selectors.search_foods(query=query)
    food = best_match(query, foods)
    corrected = ""
    if food is None and (spelt := _spelt(query)) != query:
        food = best_match(spelt, selectors.search_foods(query=spelt))
        if food is not None:
            corrected, query = _("“{typed}” as {spelt}").format(typed=query, spelt=spelt), spelt
    if food is None:
        near = foods[0]["description"] if foods else ""
        return Reading(item=item, query=query, not_found=True,
                       problem=_("the closest food I have, {near}, is something else").format(near=near) if near else "")
    if food.get("kcal") is None:
        return Reading(item=item, query=query, food=food,
                       problem=_("“{food}” has no energy value in the food data, so nothing logged. Try a more specific "
                                 "name.").format(food=food["description"]))
    assumed = ""
    if amount is None:
        amount = typical_amount(food, query, addition=item.addition)
        if amount is None:
            many = query.split() and tokens(query.split()[-1]) != [query.split()[-1].casefold()]
            return Reading(item=item, query=query, food=food, corrected=corrected,
                           question=(_("How many {food}? e.g. {examples}") if many else
                                     _("How much {food}? e.g. {examples}")).format(food=query,
                                                                                   examples=ask_examples(food, query)))
        assumed = _("usual with {food}").format(food=item.to) if item.addition else _("a usual portion")
    try:
        try:
            grams = grams_of(amount, food=food, query=query)
        except Unweighable:
            # "a salad", "a pasta": one of a food that is not counted in pieces is its usual portion.
            usual = typical_amount(food, query, addition=item.addition)
            if amount.text.casefold() not in ("a", "an", "one", "1") or usual is None or usual.unit == "item":
                raise
            amount, assumed = usual, _("a usual portion")
            grams = grams_of(amount, food=food, query=query)
    except Unweighable as error:
        return Reading(item=item, query=query, food=food, amount=amount, corrected=corrected,
                       question=_("How many grams of {food} was that? ({why}.)").format(
                           food=query, why=str(error.message).split(". ")[0]))
    except ApplicationError as error:
        return Reading(item=item, query=query, food=food, amount=amount, problem=error.message)
    return Reading(item=item, query=query, food=food, amount=amount, grams=grams, assumed=assumed,
                   corrected=corrected)


def read_answer(item: Item, query: str, answer: str) -> Reading:
    """The reading of `item` (asked about) with the amount the user answered: "10 g", "a pat", "2"."""
    amount, words, problem = _amount(answer)
    if problem or amount is None:
        return Reading(item=item, query=query, problem=problem or _("no amount"))
    return read_item(Item(f"{answer.strip()} {query}" if not words.strip() else answer.strip(),
                          addition=item.addition, to=item.to))
