"""A meal as people type it, split into items: "2 slices of toast with butter and a coffee" is
toast (2 slices), butter (with the toast) and a coffee.

Only text: which food each item is, and how much, is decided with the food found
(nutrition.reading). "with" marks what comes on or in the food before it; what follows "with"
is an addition only when it is something people add (butter, milk, sugar…, nutrition.portions'
ADDITIONS), so "rice with chicken" is two foods.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nutrition.portions import ADDITIONS, NEGLIGIBLE, table_word

# Food emoji people type instead of the word (others are dropped).
EMOJI = {"🍌": "banana", "🍎": "apple", "🍏": "apple", "🍊": "orange", "🍐": "pear", "🍓": "strawberries",
         "🫐": "blueberries", "🍇": "grapes", "🥑": "avocado", "🍉": "watermelon", "🍍": "pineapple",
         "🍋": "lemon", "🥦": "broccoli", "🥕": "carrot", "🍅": "tomato", "🥔": "potato", "🧅": "onion",
         "🥒": "cucumber", "🍄": "mushroom", "🌽": "corn", "🍚": "rice", "🍝": "pasta", "🍞": "bread",
         "🥛": "milk", "🧀": "cheese", "🧈": "butter", "🥚": "egg", "🍳": "egg", "🍗": "chicken", "🐟": "fish",
         "🥜": "peanuts", "🍫": "chocolate", "☕": "coffee", "🍵": "tea", "🍯": "honey", "🥣": "oatmeal",
         "🍕": "pizza"}
_EMOJI_RE = re.compile("|".join(map(re.escape, sorted(EMOJI, key=len, reverse=True))))
_SYMBOLS = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]")

# When and where, wherever it stands: "eggs for breakfast and toast for lunch" → "eggs and toast".
_WHEN = re.compile(r"\s+(?:for|at|with|as) (?:breakfast|lunch|dinner|supper|brunch|a snack|snack|dessert)\b"
                   r"|\s+(?:today|this morning|this afternoon|this evening|tonight|just now|earlier|yesterday)\b"
                   r"|\s+(?:in the morning|to my diary|to the diary)\b|\s+in (?:it|there)\b", re.IGNORECASE)
# Company, not food: "a coffee with my friend".
_NOT_FOOD = frozenset({"my", "our", "his", "her", "their", "your", "me", "him", "them", "us", "friend",
                       "friends", "family", "colleagues", "someone", "everyone"})
_WITH = re.compile(r"\s+with\s+|\s+w/\s*", re.IGNORECASE)
# "," (not a decimal comma: "1,5 kg"), "and", "plus", "&", "+".
_AND = re.compile(r"\s*(?:(?<!\d),(?!\d)\s*(?:and\s+)?|\s+and\s+|\s+plus\s+|\s*&\s*|\s*\+\s*|\s*;\s*)\s*",
                  re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    text: str  # as said, amount and all: "2 slices of toast", "a splash of milk"
    addition: bool = False  # something added to the food before it ("with butter")
    to: str = ""  # that food's text, for the reply: "2 slices of toast"


def clean(text: str) -> str:
    text = _EMOJI_RE.sub(lambda m: f" {EMOJI[m.group(0)]} ", unicodedata.normalize("NFC", text))
    text = _SYMBOLS.sub(" ", text).replace("’", "'")
    return " ".join(text.split())


def _is_addition(text: str) -> bool:
    words = text.casefold().split()
    word = table_word(text)
    return word in ADDITIONS or word in NEGLIGIBLE or " ".join(words[-3:]) in NEGLIGIBLE


def negligible(text: str) -> bool:
    """"salt", "pepper", "a pinch of salt": said with a food, nothing to count."""
    words = [w for w in re.findall(r"[a-z]+", text.casefold()) if w not in ("a", "an", "some", "pinch", "of", "bit")]
    return bool(words) and all(w.rstrip("s") in NEGLIGIBLE or w in NEGLIGIBLE or w == "and" for w in words)


def meal_items(text: str) -> list[Item]:
    """The items of a meal phrase, in order; company ("with my friend") and times ("for lunch")
    left out."""
    text = _WHEN.sub("", clean(text).strip().rstrip(".!?"))
    items: list[Item] = []
    main = ""
    for index, part in enumerate(_WITH.split(text)):
        for piece in (p.strip() for p in _AND.split(part)):
            if not piece or piece.split()[0].casefold() in _NOT_FOOD:
                continue
            if index > 0 and main and _is_addition(piece):
                items.append(Item(piece, addition=True, to=main))
            else:
                items.append(Item(piece))
                main = piece
    return items
