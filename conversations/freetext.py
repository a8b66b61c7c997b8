"""Answers to free text, built from user memory and history. Deterministic: no language model.

It recognises a few intents (greetings, thanks, foods, weight/BMI, calories, what was said before)
and says plainly when it did not understand — those replies are flagged unhelpful.
"""

from __future__ import annotations

import re

from memory.energy import bmi, kcal_target

from .replies import Reply, esc, reply, to_plain

FOOD_WORDS = frozenset("""
apple apples avocado bacon bagel banana bananas beans beef blueberries bread broccoli butter cake
carrot carrots cereal cheerios cheese chicken chips chocolate coffee cookie cookies corn cucumber egg
eggs fish fries grapes ham honey hummus icecream juice lentils lettuce mango milk muffin nuts oatmeal
oats orange oranges pasta peanut peanuts pear pizza pork potato potatoes rice salad salmon sandwich
sausage spinach steak strawberries sugar tea tofu tomato tomatoes tuna turkey walnuts yogurt yoghurt
""".split())
_WORD = re.compile(r"[a-zà-ÿ']+")
GREETINGS = {"hi", "hello", "hey", "hiya", "morning", "evening", "yo", "howdy"}


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def answer(*, text: str, memory: dict, first_name: str, history: tuple[dict, ...]) -> Reply:
    words = _words(text)
    wordset = set(words)
    profile = memory.get("profile") or {}
    preferences = memory.get("preferences") or {}
    name = esc(profile.get("name") or first_name or "there", 60)

    foods = [w for w in words if w in FOOD_WORDS]
    if foods:
        food = foods[0].rstrip("s") if foods[0] not in {"oats", "chips", "fries", "cheerios"} else foods[0]
        lines = [f"Sounds like {esc(foods[0])}. For its nutrition per 100 g: /food {esc(food)}",
                 f"To add it to your diary: /log 100 g {esc(food)}"]
        if diet := preferences.get("diet"):
            lines.append(f"(I remember your diet preference: {esc(diet)}.)")
        return reply(*lines)
    if wordset & {"bmi", "weight", "weigh", "heavy", "overweight"}:
        if (index := bmi(profile)) is None:
            return reply("I need your height and weight for that: /set height_cm 172 and /set weight_kg 70")
        return reply(f"With {profile['weight_kg']:g} kg at {profile['height_cm']:g} cm your BMI is {index} "
                     "(18.5–25 is the usual healthy range).")
    if wordset & {"calories", "calorie", "kcal", "target", "eat", "goal"}:
        target, source = kcal_target(profile)
        if target is None:
            return reply(f"To work out a daily target I need more: {source}.")
        return reply(f"Your daily target is {target} kcal ({source}). See today's total with /today")
    if wordset & {"said", "asked", "earlier", "before", "last"}:
        said = [m for m in history if m["role"] == "user"]
        if said:
            return reply(f"Earlier you said: “{esc(to_plain(said[-1]['content']), 200)}”")
        return reply("This is the start of our conversation.")
    if wordset & GREETINGS:
        return reply(f"Hi {name}! Ask me about a food, or send /help to see what I can do.")
    if wordset & {"thanks", "thank", "thx", "cheers"}:
        return reply(f"You're welcome, {name}!")
    return reply("Sorry, I didn't understand that. I can look up foods (/food banana), keep a diary "
                 "(/log 150 g banana, /today) and remember your profile (/set weight_kg 70). "
                 "Send /help for everything.", helpful=False)
