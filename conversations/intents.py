"""What a free-text message asks for: a deterministic classifier (regular expressions, no network,
no language model), kept apart from the answers so it can be tested as a table.

`classify` returns an Intent: the action and what it needs ("log_food" with the items, "set" with
the field and value…). Order matters: the most specific asks are tried first.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal

FOOD_WORDS = frozenset("""
apple apples avocado bacon bagel banana bananas beans beef blueberries bread broccoli butter cake
carrot carrots cereal cheerios cheese chicken chips chocolate coffee cookie cookies corn cucumber egg
eggs fish fries grapes ham honey hummus icecream juice lentils lettuce mango milk muffin nuts oatmeal
oats orange oranges pasta peanut peanuts pear pizza pork potato potatoes rice salad salmon sandwich
sausage spinach steak strawberries sugar tea tofu tomato tomatoes tuna turkey walnuts yogurt yoghurt
""".split())


@dataclass(frozen=True)
class Intent:
    action: str
    args: dict = field(default_factory=dict)


def _re(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


_SAID = _re(r"\bwhat (?:did|have|was it) i (?:just )?(?:say|said|ask|asked|tell|told|write|wrote|type|typed)\b"
            r"|\bmy (?:last|previous) message\b|\bwhat i (?:said|asked|wrote)\b|\brepeat what i said\b")
_DIARY = _re(r"\bwhat (?:did|have|had) i (?:eat|eaten|had|have|log|logged|drink|drunk|drank)\b"
             r"|\bwhat i (?:ate|had|have eaten|logged)\b|\b(?:show|see|open)(?: me)? my (?:food )?(?:diary|log|meals)\b"
             r"|\bwhat(?:'s| is) in my (?:food )?diary\b|^(?:my )?(?:food )?diary\b|\bhave i eaten\b"
             r"|\bhow (?:much|many calories|many kcal) (?:did|have) i (?:eat|eaten|had)\b")
_LEFT = _re(r"\b(?:calories|kcal|cals)\b.*\b(?:left|remaining|remain)\b|\bhow much (?:more )?can i (?:still )?eat\b"
            r"|\bhow many (?:more )?(?:calories|kcal|cals) can i\b|\b(?:am i|i'm|i am) (?:over|under) (?:my )?"
            r"(?:target|budget|limit)\b|\bleft (?:for|to eat) today\b")
_TARGET = _re(r"\bhow (?:many|much) (?:calories|kcal|cals|energy|food)\b.*\b(?:should|do|must|can) i\b"
              r"|\b(?:my|daily) (?:calorie |kcal |energy )?(?:target|goal|budget|needs?)\b"
              r"|\bhow many (?:calories|kcal) (?:a|per) day\b|\bcalorie (?:target|goal|need)s?\b")
_BMI = _re(r"\bbmi\b|\bbody mass\b|\bam i (?:over|under)weight\b|\b(?:overweight|underweight|obese)\b"
           r"|\bhow is my weight\b|\bis my weight\b|\bhealthy weight\b|\bwhat(?:'s| is) my weight\b"
           r"|\bhow much do i weigh\b")
_UNDO = _re(r"^(?:please )?(?:undo|(?:delete|remove|scratch) (?:that|the last(?: one| entry| thing)?|my last entry))\b")
_HELP = _re(r"\bwhat can you do\b|^help\b|\bhow does (?:this|it) work\b|\bwhat do you do\b|\bcommands\b"
            r"|\bwho are you\b|\bwhat are you\b")
_GREETING = _re(r"^(?:hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening)|morning|evening)\b")
_THANKS = _re(r"\b(?:thanks|thank you|thx|cheers|ty)\b")

_NUM = r"(\d+(?:[.,]\d+)?)"
_WEIGHT = _re(r"(?:\bmy weight(?: is|'s)?|\bi weigh|\bi(?:'m| am)(?: now)?|^weight:?)\s*(?:now\s+)?" + _NUM +
              r"\s*(kg|kgs|kilos?|kilograms?|lbs?|pounds?)?\b(?!\s*(?:cm|m|years|yo|y/o|old|tall|of|g\b))")
_HEIGHT_M = _re(r"(?:\bmy height(?: is|'s)?|\bi(?:'m| am)|^height:?)\s*" + _NUM +
                r"\s*(cm|centimet(?:er|re)s?|m|met(?:er|re)s?)\b(?:\s*tall)?")
_HEIGHT_FT = _re(r"(?:\bmy height(?: is|'s)?|\bi(?:'m| am)|^height:?)\s*(\d)\s*(?:'|ft|feet|foot)\s*(\d{1,2})?\s*"
                 r"(?:\"|''|in|inches)?(?:\s*tall)?")
_AGE = _re(r"(?:\bmy age(?: is|'s)?|\bi(?:'m| am)|^age:?)\s*(\d{1,3})\s*(?:years?(?: old)?|yrs?(?: old)?|yo|y/o|$)"
           r"|\bi turned (\d{1,3})\b")
_SEX = _re(r"\bi(?:'m| am) (?:a )?(male|female|man|woman|guy|girl|boy|lady)\b")
_GOAL = _re(r"\b(?:i want|i'd like|i would like|my goal is|i'm trying|i am trying|i need|i plan|help me)"
            r" to (lose|gain|put on|maintain|keep|build)\b")
_NAME = _re(r"\b(?:my name is|call me|my name's)\s+([^\d\s.,!?][^.,!?]{0,40}?)\s*[.!]?$")
_ACTIVITY = _re(r"\bi(?:'m| am) (very active|quite active|active|sedentary|moderately active|lightly active|"
                r"not very active|not active)\b")
_TZ = _re(r"\b(?:my time ?zone is|time ?zone:?|i live in|i'm in|i am in)\s+([a-z]+/[a-z_]+(?:/[a-z_]+)?)\b")

_INFO = _re(r"^(?:how many |what are the |what's the |what is the )?(?:calories|kcal|cals|protein|carbs|fat|"
            r"nutrition|nutrients)(?: are| is)? (?:in|of|for) (.+?)\??$"
            r"|^how (?:many calories|much protein|many carbs|much fat) (?:does|do|is in|are in) (.+?)"
            r"(?: have| contain)?\??$")
# "I had 2 eggs", "just ate a banana", "for breakfast I had toast", "breakfast: porridge", "log 2 eggs"
_EATEN = _re(r"^(?:(?:so|ok|okay|well|today|this morning|tonight|earlier),?\s+)?"
             r"(?:for (?:breakfast|lunch|dinner|supper|brunch|a snack|snack|dessert),?\s+)?"
             r"(?:i|we)?\s*(?:'ve|have)?\s*(?:just\s+|also\s+)?"
             r"(?:had|ate|eaten|drank|drunk|have eaten|am eating|'m eating|munched|grabbed|finished)\s+(.+)$"
             r"|^(?:breakfast|lunch|dinner|supper|brunch|snack)(?: was|:)\s*(.+)$"
             r"|^(?:please )?(?:log|add|record)\s+(.+)$")
# When and where, wherever it stands: "eggs for breakfast and toast for lunch" → "eggs and toast".
_WHEN = _re(r"\s+(?:for|at|with|as) (?:breakfast|lunch|dinner|supper|brunch|a snack|snack|dessert)\b"
            r"|\s+(?:today|this morning|this afternoon|this evening|tonight|just now|earlier|yesterday)\b"
            r"|\s+(?:in the morning|to my diary|to the diary)\b")
# Company, not food: "a coffee with my friend".
_NOT_FOOD = frozenset({"my", "our", "his", "her", "their", "your", "me", "him", "them", "us", "friend",
                       "friends", "family", "colleagues", "someone", "everyone"})
_ITEM_SPLIT = _re(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|\s+with\s+|\s+plus\s+|\s*&\s*|\s*\+\s*)\s*")


def _number(raw: str) -> Decimal:
    return Decimal(raw.replace(",", "."))


def _plain(value: Decimal) -> str:
    """172.00 → "172", 81.6 → "81.6" (never "1E+2")."""
    return format(value.normalize(), "f")


def food_items(text: str) -> list[str]:
    """"2 eggs and a coffee for breakfast" → ["2 eggs", "a coffee"]."""
    text = _WHEN.sub("", text.strip().rstrip(".!?"))
    items = [item.strip() for item in _ITEM_SPLIT.split(text) if item.strip()]
    return [item for item in items if item.split()[0].casefold() not in _NOT_FOOD]


def _profile_statement(text: str) -> Intent | None:
    if m := _HEIGHT_FT.search(text):
        inches = int(m.group(1)) * 12 + int(m.group(2) or 0)
        return Intent("set", {"field": "height_cm", "value": str(round(inches * 2.54, 1))})
    if m := _HEIGHT_M.search(text):
        value = _number(m.group(1))
        value = value * 100 if m.group(2).lower().startswith("m") else value
        return Intent("set", {"field": "height_cm", "value": _plain(value)})
    if m := _WEIGHT.search(text):
        if m.group(2) or re.search(r"\bweigh|weight\b", text, re.I):
            value = _number(m.group(1))
            if (m.group(2) or "").lower().startswith(("lb", "pound")):
                value = (value * Decimal("0.45359237")).quantize(Decimal("0.1"))
            return Intent("set", {"field": "weight_kg", "value": _plain(value)})
    if m := _AGE.search(text):
        return Intent("set", {"field": "age", "value": m.group(1) or m.group(2)})
    if m := _SEX.search(text):
        sex = "male" if m.group(1).lower() in ("male", "man", "guy", "boy") else "female"
        return Intent("set", {"field": "sex", "value": sex})
    if m := _GOAL.search(text):
        goal = {"lose": "lose", "gain": "gain", "put on": "gain", "build": "gain"}.get(m.group(1).lower(), "maintain")
        return Intent("set", {"field": "goal", "value": goal})
    if m := _ACTIVITY.search(text):
        word = m.group(1).lower()
        activity = ("sedentary" if word in ("sedentary", "not active", "not very active") else
                    "very_active" if word == "very active" else "light" if word.startswith("lightly") else
                    "moderate" if word.startswith("moderately") else "active")
        return Intent("set", {"field": "activity", "value": activity})
    if m := _TZ.search(text):
        return Intent("set", {"field": "tz", "value": m.group(1)})
    if m := _NAME.search(text):
        return Intent("set", {"field": "name", "value": m.group(1).strip()})
    return None


@functools.lru_cache(maxsize=64)  # a turn classifies its text twice: for its read-ahead, then to answer
def classify(text: str) -> Intent:
    text = " ".join(text.replace("’", "'").split())
    if _SAID.search(text):
        return Intent("said_before")
    if _DIARY.search(text):
        return Intent("diary", {"day": -1 if re.search(r"\byesterday\b", text, re.I) else 0})
    if _LEFT.search(text):
        return Intent("calories_left")
    if m := _INFO.search(text):
        return Intent("food_info", {"query": (m.group(1) or m.group(2)).strip()})
    if statement := _profile_statement(text):  # before the target: "my goal is to gain weight"
        return statement
    if _TARGET.search(text):
        return Intent("target")
    if _UNDO.search(text):
        return Intent("undo")
    if _BMI.search(text):
        return Intent("bmi")
    if m := _EATEN.search(text):
        items = food_items(next(group for group in m.groups() if group))
        if items:
            return Intent("log_food", {"items": items})
    if _HELP.search(text):
        return Intent("help")
    if _GREETING.search(text):
        return Intent("greeting")
    if _THANKS.search(text):
        return Intent("thanks")
    words = re.findall(r"[a-zà-ÿ']+", text.casefold())
    if foods := [w for w in words if w in FOOD_WORDS]:
        return Intent("food_mention", {"food": foods[0]})
    return Intent("unknown")
