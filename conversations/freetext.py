"""Answers to free text, built from user memory, the diary and history. Deterministic: no language
model. conversations.intents decides what was asked; this module answers it, through the same
services and cached selectors as the commands.

Replies that say the bot did not understand are flagged unhelpful (kept out of the history it reads).
"""

from __future__ import annotations

import datetime

from memory import services as memory_services
from memory.energy import bmi_line, daily_target
from memory.fields import LABELS
from nutrition.amounts import split_amount_anywhere
from nutrition.matching import best_match
from nutrition.portions import grams_of
from nutrition.selectors import diary_day, local_today, search_foods

from . import commands, food_commands, meals, reminder_commands
from .turn import Turn
from .intents import classify
from .replies import Reply, esc, fmt_grams, fmt_number, reply

MAX_ITEMS = meals.MAX_ITEMS
CAN_DO = ("I can log food (“I had 2 eggs and a coffee”, /log 150 g banana), tell you what you ate "
          "(“what did I eat today?”) and what is left of your target, and remember your profile "
          "(“my weight is 82 kg”). Send /help for everything.")


def answer(*, turn: Turn, text: str) -> Reply:
    intent = classify(text)
    handler = _HANDLERS[intent.action]
    return handler(turn, **intent.args)


def cache_keys(text: str) -> list[str]:
    """The food lookups answering `text` will read: read ahead with the user's entries, in the
    turn's one round trip, like /log's and /food's (conversations.food_commands.CACHE_KEYS)."""
    intent = classify(text)
    if intent.action == "log_food":
        return food_commands.CACHE_KEYS["log"](intent.args["meal"])[:MAX_ITEMS]
    if intent.action == "food_info":  # the query's food words, as _food_info looks them up
        return food_commands.CACHE_KEYS["log"](intent.args["query"])
    return []


def _name(turn: Turn) -> str:
    return esc(turn.profile.get("name") or turn.first_name or "there", 60)


def _log_food(turn: Turn, items: list[str], meal: str) -> Reply:
    return meals.log_meal(turn, meal)


def _profile(turn: Turn, facts: tuple[tuple[str, str], ...], unread: tuple[str, ...]) -> Reply:
    """Several facts in one message: all saved that can be, all confirmed, the rest named."""
    values, errors = memory_services.profile_parse(dict(facts))
    lines = []
    if values:
        profile = memory_services.profile_update_many(user_id=turn.user_id, values=values)
        lines += commands.saved_many(turn, list(values), profile)
    lines += [f"Not saved: {esc(LABELS.get(field, field).lower(), 30)} — {esc(message, 300)}"
              for field, message in errors.items()]
    if unread:
        lines.append(f"I couldn't read: {', '.join(f'“{esc(part, 60)}”' for part in unread[:5])}.")
    return reply(*lines, "(/profile shows it all.)")


def _correct(turn: Turn, food: str, amount: str, said: str) -> Reply:
    return meals.correct(turn, food, amount, said)


def _nutrient_total(turn: Turn, what: str, day: int) -> Reply:
    name = {"fats": "fat", "carb": "carbs", "carbohydrate": "carbs", "carbohydrates": "carbs"}.get(what, what)
    date = local_today(turn.tz) + datetime.timedelta(days=day)
    diary = diary_day(user_id=turn.user_id, day=date, tz=turn.tz)
    when = "today" if day == 0 else "yesterday"
    if not diary["entries"]:
        return reply(f"Nothing logged {when}, so no {name} to count. Add food with “I had 2 eggs” or /log.")
    return reply(f"{when.capitalize()} you've had {fmt_number(diary[name], 1)} g of {name} "
                 f"(from {len(diary['entries'])} entries; {fmt_number(diary['kcal'])} kcal in all).",
                 f"Protein {fmt_number(diary['protein'], 1)} g · fat {fmt_number(diary['fat'], 1)} g · "
                 f"carbs {fmt_number(diary['carbs'], 1)} g — /today lists the entries")


def _weight_trend(turn: Turn) -> Reply:
    return commands.cmd_weight(turn, "")


def _foreign(turn: Turn) -> Reply:
    return reply("I read English only: please write in English, like “I had an apple” (/help lists what I can do).",
                 helpful=False)


def _set(turn: Turn, field: str, value: str) -> Reply:
    profile = memory_services.profile_update(user_id=turn.user_id, field=field, raw_value=value)
    saved = commands.saved_reply(turn, field, profile)
    return reply(*saved.lines, f"(Next time you can also send /set {field} {esc(value, 40)}; /profile shows it all.)")


def _diary(turn: Turn, day: int) -> Reply:
    date = local_today(turn.tz) + datetime.timedelta(days=day)
    return reply(*food_commands.diary_lines(turn, date))


def _calories_left(turn: Turn) -> Reply:
    target = daily_target(turn.profile)
    eaten = float(diary_day(user_id=turn.user_id, tz=turn.tz)["kcal"])
    if not target.kcal:
        return reply(f"You've had {eaten:.0f} kcal today. For what is left I need a daily target: {target.source}.")
    left = target.kcal - eaten
    lines = [f"You've had {eaten:.0f} of {target.kcal} kcal today: {abs(left):.0f} kcal "
             f"{'left' if left >= 0 else 'over your target'}."]
    return reply(*lines, *(f"⚠️ {note}" for note in target.notes), "See the entries with /today")


def _target(turn: Turn) -> Reply:
    target = daily_target(turn.profile)
    if target.kcal is None:
        return reply(f"To work out a daily target I need more: {target.source}.", *(f"⚠️ {n}" for n in target.notes))
    return reply(f"Your daily target is {target.kcal} kcal ({target.source}).",
                 *(f"⚠️ {note}" for note in target.notes), "See today's total with /today")


def _bmi(turn: Turn) -> Reply:
    line = bmi_line(turn.profile)
    if line is None:
        return reply("I need your height and weight for that: tell me “my weight is 70 kg” and “I'm 172 cm”, "
                     "or /set height_cm 172 and /set weight_kg 70")
    if not line.startswith("BMI"):
        return reply(f"⚠️ {line}")
    profile = turn.profile
    return reply(f"With {profile['weight_kg']:g} kg at {profile['height_cm']:g} cm: {line}.")


def _said_before(turn: Turn) -> Reply:
    said = [m for m in turn.history if m["role"] == "user" and not m["content"].lstrip().startswith("/")]
    if said:
        # The user's own text, not HTML: escaped once, never parsed ("2>1" stays "2>1").
        return reply(f"Earlier you said: “{esc(said[-1]['content'], 200)}”")
    commands_only = any(m["role"] == "user" for m in turn.history)
    return reply("You've only sent commands so far (/history shows them)." if commands_only
                 else "This is the start of our conversation.")


def _food_info(turn: Turn, query: str) -> Reply:
    amount, food_words = split_amount_anywhere(query)
    food = best_match(food_words, search_foods(query=food_words)) if food_words else None
    if food is None:
        return food_commands.not_found(food_words or query)
    if amount is None or food.get("kcal") is None:
        return food_commands.cmd_food(turn, food_words)
    grams = grams_of(amount, food=food, query=food_words)
    kcal = float(food["kcal"]) * float(grams) / 100
    return reply(f"{esc(amount.text, 40)} {esc(food_words, 80)} ({fmt_grams(grams)}) of "
                 f"<b>{esc(food['description'], 120)}</b>: about {kcal:.0f} kcal.",
                 f"To log it: /log {esc(amount.text, 40)} {esc(food_words, 80)}")


def _undo(turn: Turn) -> Reply:
    return food_commands.cmd_undo(turn, "")


def _food_mention(turn: Turn, food: str) -> Reply:
    single = food.rstrip("s") if food not in {"oats", "chips", "fries", "cheerios", "hummus"} else food
    lines = [f"Sounds like {esc(food)}. For its nutrition per 100 g: /food {esc(single)}",
             f"Had some? Tell me “I had 1 {esc(single)}”, or /log 100 g {esc(single)}"]
    if diet := (turn.memory.get("preferences") or {}).get("diet"):
        lines.append(f"(I remember your diet preference: {esc(diet)}.)")
    return reply(*lines)


def _unknown(turn: Turn) -> Reply:
    return reply(f"Sorry, I didn't understand that. {CAN_DO}", helpful=False)


def _remind(turn: Turn, text: str) -> Reply:
    return reminder_commands.remind_from_text(turn, text)


_HANDLERS = {
    "remind": _remind,
    "log_food": _log_food,
    "profile": _profile,
    "correct": _correct,
    "nutrient_total": _nutrient_total,
    "weight_trend": _weight_trend,
    "foreign": _foreign,
    "set": _set,
    "diary": _diary,
    "calories_left": _calories_left,
    "target": _target,
    "bmi": _bmi,
    "said_before": _said_before,
    "food_info": _food_info,
    "undo": _undo,
    "help": lambda turn: commands.cmd_help(turn, ""),
    "greeting": lambda turn: reply(f"Hi {_name(turn)}! Tell me what you ate, ask about a food, or send /help."),
    "thanks": lambda turn: reply(f"You're welcome, {_name(turn)}!"),
    "food_mention": _food_mention,
    "unknown": _unknown,
}
