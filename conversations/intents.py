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

from healthagent.errors import ApplicationError
from nutrition.amounts import split_amount_anywhere
from nutrition.phrases import meal_items

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

# Corrections of a logged entry: "the butter was only 10 g", "make that 2 eggs", "no, 150 g",
# "change the rice to 200 g", "actually it was 3 eggs". Only with an amount that reads as one.
_CORRECT_NAMED = _re(r"^(?:no,?\s+|sorry,?\s+|oops,?\s+|actually,?\s+)?(?:the|my|that) (?P<food>[a-z][a-z ]{0,40}?) "
                     r"(?:was|were|is|are) (?:only |just |actually |really |more like |about |around )?(?P<amount>.+?)"
                     r"(?:,? not .*)?$")
_CORRECT_CHANGE = _re(r"^(?:please )?change (?:the |my )?(?P<food>[a-z][a-z ]{0,40}?) to (?P<amount>.+)$")
_CORRECT = _re(r"^(?:no|nope|sorry|oops|actually|correction|wait|i meant|make (?:that|it)|change (?:that|it) to|"
               r"it was|that was|it's|that's)\b[,:!.]?\s*(?:,\s*)?(?:it was |that was |i meant |make (?:that|it) |"
               r"it's |that's |only |just |more like |about |around )*(?P<amount>.+?)(?:,? not .*)?$")
_NUTRIENT = _re(r"\bhow (?:much|many(?: grams(?: of)?)?) (?P<what>protein|fat|fats|carbs?|carbohydrates?)\b"
                r".*\b(?:did|have|had) i\b|\b(?:my )?(?P<what2>protein|fat|carbs?|carbohydrates?) (?:intake )?"
                r"(?:today|so far)\b")
_WEIGHT_TREND = _re(r"\bhow (?:has|is|did) my weight (?:changed?|chang(?:ed|ing)|going|developed|trend)"
                    r"|\bweight (?:history|trend|progress|change)\b|\bhave i (?:lost|gained) (?:any )?weight\b"
                    r"|\bmy weight over time\b|\bhow much (?:weight )?have i (?:lost|gained)\b")
# Not English: a message of words from these languages' most common words, or in another script.
_FOREIGN_WORDS = frozenset("""
ich habe einen eine ein und der die das nicht mit ist gegessen getrunken heute zum frühstück bitte danke
je j'ai mangé une des les avec pour est aujourd'hui petit déjeuner merci bonjour du de la le
yo he comido una unos con para hoy desayuno gracias hola el los las
ho mangiato della con oggi colazione grazie ciao il gli
eu comi uma com hoje café da manhã obrigado olá
ik heb een gegeten met vandaag ontbijt dank
""".split())
_OTHER_SCRIPT = re.compile(r"[\u0400-\u04FF\u0370-\u03FF\u0590-\u05FF\u0600-\u06FF\u0900-\u097F"
                           r"\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7AF\u0E00-\u0E7F]")

_INFO = _re(r"^(?:how many |what are the |what's the |what is the )?(?:calories|kcal|cals|protein|carbs|fat|"
            r"nutrition|nutrients)(?: are| is)? (?:in|of|for) (.+?)\??$"
            r"|^how (?:many calories|much protein|many carbs|much fat) (?:does|do|is in|are in) (.+?)"
            r"(?: have| contain)?\??$")
# "I had 2 eggs", "just ate a banana", "for breakfast I had toast", "breakfast: porridge", "log 2 eggs"
_EATEN = _re(r"^(?:(?:so|ok|okay|well|today|this morning|tonight|earlier),?\s+)?"
             r"(?:for (?:breakfast|lunch|dinner|supper|brunch|a snack|snack|dessert),?\s+)?"
             r"(?:i|we)?\s*(?:'ve|have)?\s*(?:just\s+|also\s+)?"
             r"(?:had|ate|eaten|drank|drunk|have eaten|am eating|'m eating|munched|grabbed|finished)\s+(.+)$"
             r"|^(?:my )?(?:breakfast|lunch|dinner|supper|brunch|snack)(?: was|:)\s*(.+)$"
             r"|^(?:please )?(?:log|add|record)\s+(.+)$")
def _number(raw: str) -> Decimal:
    return Decimal(raw.replace(",", "."))


def _plain(value: Decimal) -> str:
    """172.00 → "172", 81.6 → "81.6" (never "1E+2")."""
    return format(value.normalize(), "f")


def food_items(text: str) -> list[str]:
    """"2 eggs and a coffee for breakfast" → ["2 eggs", "a coffee"] (nutrition.phrases has the rules)."""
    return [item.text for item in meal_items(text)]


_MEALS = frozenset({"breakfast", "lunch", "dinner", "supper", "brunch", "snack", "meal", "dessert"})


def correction(text: str) -> Intent | None:
    """Intent("correct", food words or "", the new amount's text) when `text` corrects an entry."""
    for pattern in (_CORRECT_NAMED, _CORRECT_CHANGE, _CORRECT):
        if (m := pattern.match(text.strip().rstrip(".!"))) is None:
            continue
        food = m.groupdict().get("food") or ""
        if food.split()[-1:] and food.split()[-1].lower() in _MEALS:  # "my lunch was 2 eggs" is a meal
            return None
        try:
            amount, words = split_amount_anywhere(m.group("amount"))
        except ApplicationError:
            continue
        if amount is None:
            continue
        return Intent("correct", {"food": (words or food).strip(), "amount": amount.text, "said": m.group("amount")})
    return None


def is_foreign(text: str) -> bool:
    """True when `text` is not English: another script, or mostly the common words of German,
    French, Spanish, Italian, Portuguese or Dutch."""
    if _OTHER_SCRIPT.search(text):
        return True
    words = re.findall(r"[a-zà-ÿ']+", text.casefold())
    foreign = [w for w in words if w in _FOREIGN_WORDS]
    return len(words) >= 2 and len(foreign) >= 2 and len(foreign) * 2 >= len(words)


# One profile fact said on its own, as a part of a longer message: "34", "female", "165 cm", "72 kg".
_BARE_AGE = _re(r"^(?:i'm |i am |age:? )?(\d{1,3})(?:\s*(?:years?|yrs?)(?: old)?|\s*yo|\s*y/o)?$")
_BARE_SEX = _re(r"^(?:i'm |i am )?(?:a )?(male|female|man|woman|guy|girl|boy|lady)$")
_BARE_HEIGHT = _re(r"^(?:i'm |i am |height:? )?" + _NUM + r"\s*(cm|m)(?: tall)?$")
_BARE_WEIGHT = _re(r"^(?:i'm |i am |weight:? |i weigh )?" + _NUM + r"\s*(kg|kgs|kilos?|lbs?|pounds?)$")
_BARE_FEET = _re(r"^(?:i'm |i am )?(\d)\s*(?:'|ft|feet|foot)\s*(\d{1,2})?\s*(?:\"|''|in|inches)?(?: tall)?$")
_BARE_ACTIVITY = _re(r"^(?:i'm |i am )?(very active|quite active|active|sedentary|moderately active|lightly active)$")
_BARE_NAME = re.compile(r"^(?:[Ii]'m|[Ii] am|[Tt]his is|[Mm]y name is|[Cc]all me|[Hh]i,? [Ii]'m)\s+([A-ZÀ-Þ][a-zà-ÿ'-]{1,30})$")
# Clauses: at . , ; ! ? (not a decimal point or comma: "1.72 m", "72,5 kg"), "and", "but".
_CLAUSES = re.compile(r"(?:(?<!\d)[.,]|[.,](?!\d)|[;!?])+\s*|\s+and\s+|\s+but\s+|\s*\n\s*", re.IGNORECASE)
_FILLERS = frozenset({"", "hi", "hello", "hey", "so", "ok", "okay", "well", "also", "thanks", "and", "oh", "um"})


def _bare_fact(clause: str) -> tuple[str, str] | None:
    if (m := _BARE_AGE.match(clause)) and 13 <= int(m.group(1)) <= 120:
        return "age", m.group(1)
    if m := _BARE_SEX.match(clause):
        return "sex", "male" if m.group(1).lower() in ("male", "man", "guy", "boy") else "female"
    if m := _BARE_HEIGHT.match(clause):
        value = _number(m.group(1))
        return "height_cm", _plain(value * 100 if m.group(2).lower() == "m" else value)
    if m := _BARE_WEIGHT.match(clause):
        value = _number(m.group(1))
        if m.group(2).lower().startswith(("lb", "pound")):
            value = (value * Decimal("0.45359237")).quantize(Decimal("0.1"))
        return "weight_kg", _plain(value)
    if m := _BARE_FEET.match(clause):
        return "height_cm", str(round((int(m.group(1)) * 12 + int(m.group(2) or 0)) * 2.54, 1))
    if m := _BARE_ACTIVITY.match(clause):
        word = m.group(1).lower()
        return "activity", ("very_active" if word == "very active" else "sedentary" if word == "sedentary" else
                            "light" if word.startswith("lightly") else "moderate" if word.startswith("moderately")
                            else "active")
    if m := _BARE_NAME.match(clause):
        return "name", m.group(1)
    return None


def profile_facts(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Every profile fact of a message ("I'm Maria, 34, female, 165 cm and 72 kg. I want to lose
    weight"): [(field, value as typed)], in order, and the parts that said none."""
    facts: list[tuple[str, str]] = []
    unread: list[str] = []
    for clause in (c.strip() for c in _CLAUSES.split(text)):
        fact = _bare_fact(clause)
        if fact is None and (statement := _profile_statement(clause)) is not None:
            fact = (statement.args["field"], statement.args["value"])
        if fact is not None:
            facts.append(fact)
        elif clause.casefold() not in _FILLERS:
            unread.append(clause)
    return facts, unread


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


_REMIND_ME = re.compile(r"^(?:please\s+|can you\s+|could you\s+)?remind\s+me\b", re.I)


@functools.lru_cache(maxsize=64)  # a turn classifies its text twice: for its read-ahead, then to answer
def classify(text: str) -> Intent:
    text = " ".join(text.replace("’", "'").split())
    if _REMIND_ME.match(text):  # "remind me to drink water every 2 hours between 9 and 18"
        return Intent("remind", {"text": text})
    facts, unread = profile_facts(text)
    if len({field for field, _ in facts}) >= 2:
        return Intent("profile", {"facts": tuple(facts), "unread": tuple(unread)})
    if _WEIGHT_TREND.search(text):
        return Intent("weight_trend")
    if m := _NUTRIENT.search(text):
        return Intent("nutrient_total", {"what": (m.group("what") or m.group("what2")).lower(),
                                         "day": -1 if re.search(r"\byesterday\b", text, re.I) else 0})
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
    if intent := correction(text):  # after profile statements: "my weight is 82 kg" is no correction
        return intent
    if _TARGET.search(text):
        return Intent("target")
    if _UNDO.search(text):
        return Intent("undo")
    if _BMI.search(text):
        return Intent("bmi")
    if m := _EATEN.search(text):
        meal = next(group for group in m.groups() if group)
        if items := food_items(meal):
            return Intent("log_food", {"items": items, "meal": meal})
    if _HELP.search(text):
        return Intent("help")
    if _GREETING.search(text):
        return Intent("greeting")
    if _THANKS.search(text):
        return Intent("thanks")
    if is_foreign(text):
        return Intent("foreign")
    words = re.findall(r"[a-zà-ÿ']+", text.casefold())
    if foods := [w for w in words if w in FOOD_WORDS]:
        return Intent("food_mention", {"food": foods[0]})
    if (single := _bare_fact(text)) is not None and single[0] == "name":
        return Intent("set", {"field": "name", "value": single[1]})
    return Intent("unknown")
