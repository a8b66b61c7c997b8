"""Answers to free text, built from user memory, the diary and history. Deterministic: no language
model. conversations.intents decides what was asked; this module answers it, through the same
services and cached selectors as the commands.

Replies that say the bot did not understand are flagged unhelpful (kept out of the history it reads).
"""

from __future__ import annotations

import datetime

from django.utils.translation import gettext as _, gettext_lazy

from agent import api as agent_api
from healthagent.errors import ApplicationError
from memory import services as memory_services
from memory.energy import bmi, bmi_line, bmi_plausible, daily_target
from memory.fields import label_in_text
from nutrition.amounts import split_amount_anywhere
from nutrition.matching import best_match
from nutrition.portions import grams_of
from nutrition.selectors import diary_day, local_today, search_cache_key, search_foods

from . import commands, food_commands, meals, reminder_commands
from .turn import Turn
from .intents import classify
from .replies import Reply, esc, fmt_g, fmt_grams, fmt_number, reply

MAX_ITEMS = meals.MAX_ITEMS
CAN_DO = gettext_lazy("I can log food (“I had 2 eggs and a coffee”, /log 150 g banana), tell you what you ate "
                      "(“what did I eat today?”) and what is left of your target, and remember your profile "
                      "(“my weight is 82 kg”). Send /help for everything.")
_NUTRIENTS = {"protein": gettext_lazy("protein"), "fat": gettext_lazy("fat"), "carbs": gettext_lazy("carbs")}


# What the rules do not understand with confidence: the agent's, when one is configured (agent/).
AGENT_ACTIONS = frozenset({"unknown", "foreign", "food_mention"})


def answer(*, turn: Turn, text: str) -> Reply:
    intent = classify(text)
    if intent.action in AGENT_ACTIONS and agent_api.enabled(turn.memory):
        answered = agent_api.answer(user_id=turn.user_id, memory=turn.memory, history=turn.history, tz=turn.tz,
                                    text=text)
        if answered is not None:
            return reply(*(esc(line, 1000) for line in answered.text.splitlines() if line.strip()),
                         *(esc(note, 400) for note in answered.notes))
    handler = _HANDLERS[intent.action]
    return handler(turn, **intent.args)


def cache_keys(text: str) -> list[str]:
    """The food lookups answering `text` will read: read ahead with the user's entries, in the
    turn's one round trip, like /log's and /food's (conversations.food_commands.CACHE_KEYS)."""
    intent = classify(text)
    if intent.action == "log_food":
        return food_commands.CACHE_KEYS["log"](intent.args["meal"])[:MAX_ITEMS]
    if intent.action == "food_info":
        return _food_info_keys(intent.args["query"])
    return []


def _food_info_keys(query: str) -> list[str]:
    """The lookup _food_info makes: the query's food words, split from its amount as it splits them."""
    try:
        _amount, food_words = split_amount_anywhere(query)
    except ApplicationError:  # _food_info answers with the error and looks nothing up
        return []
    key = search_cache_key(query=food_words) if food_words else None
    return [key] if key else []


def _name(turn: Turn) -> str:
    return esc(turn.profile.get("name") or turn.first_name or _("there"), 60)


def _log_food(turn: Turn, items: list[str], meal: str) -> Reply:
    return meals.log_meal(turn, meal)


def _profile(turn: Turn, facts: tuple[tuple[str, str], ...], unread: tuple[str, ...]) -> Reply:
    """Several facts in one message: all saved that can be, all confirmed, the rest named."""
    values, errors = memory_services.profile_parse(dict(facts))
    lines = []
    if values:
        profile = memory_services.profile_update_many(user_id=turn.user_id, values=values)
        lines += commands.saved_many(turn, list(values), profile)
    lines += [_("Not saved: {field} — {why}").format(field=esc(label_in_text(field), 30),
                                                     why=esc(message, 300))
              for field, message in errors.items()]
    if unread:
        lines.append(_("I couldn't read: {parts}.").format(parts=", ".join(f"“{esc(part, 60)}”" for part in unread[:5])))
    return reply(*lines, _("(/profile shows it all.)"))


def _correct(turn: Turn, food: str, amount: str, said: str) -> Reply:
    return meals.correct(turn, food, amount, said)


def _nutrient_total(turn: Turn, what: str, day: int) -> Reply:
    name = {"fats": "fat", "carb": "carbs", "carbohydrate": "carbs", "carbohydrates": "carbs"}.get(what, what)
    date = local_today(turn.tz) + datetime.timedelta(days=day)
    diary = diary_day(user_id=turn.user_id, day=date, tz=turn.tz)
    shown = _NUTRIENTS[name]
    if not diary["entries"]:
        return reply((_("Nothing logged today, so no {nutrient} to count. Add food with “I had 2 eggs” or /log.")
                      if day == 0 else
                      _("Nothing logged yesterday, so no {nutrient} to count. Add food with “I had 2 eggs” or /log."))
                     .format(nutrient=shown))
    return reply((_("Today you've had {grams} g of {nutrient} (from {n} entries; {kcal} kcal in all).") if day == 0 else
                  _("Yesterday you've had {grams} g of {nutrient} (from {n} entries; {kcal} kcal in all)."))
                 .format(grams=fmt_number(diary[name], 1), nutrient=shown, n=len(diary["entries"]),
                         kcal=fmt_number(diary["kcal"])),
                 _("Protein {protein} g · fat {fat} g · carbs {carbs} g — /today lists the entries").format(
                     protein=fmt_number(diary["protein"], 1), fat=fmt_number(diary["fat"], 1),
                     carbs=fmt_number(diary["carbs"], 1)))


def _weight_trend(turn: Turn) -> Reply:
    return commands.cmd_weight(turn, "")


def _foreign(turn: Turn) -> Reply:
    return reply(_("I read English only: please write in English, like “I had an apple” (/help lists what I can do)."),
                 helpful=False)


def _set(turn: Turn, field: str, value: str) -> Reply:
    profile = memory_services.profile_update(user_id=turn.user_id, field=field, raw_value=value)
    saved = commands.saved_reply(turn, field, profile)
    return reply(*saved.lines, _("(Next time you can also send /set {field} {value}; /profile shows it all.)").format(
        field=field, value=esc(value, 40)))


def _diary(turn: Turn, day: int) -> Reply:
    date = local_today(turn.tz) + datetime.timedelta(days=day)
    return reply(*food_commands.diary_lines(turn, date))


def _calories_left(turn: Turn) -> Reply:
    target = daily_target(turn.profile)
    eaten = float(diary_day(user_id=turn.user_id, tz=turn.tz)["kcal"])
    if not target.kcal:
        return reply(_("You've had {eaten} kcal today. For what is left I need a daily target: {source}.").format(
            eaten=f"{eaten:.0f}", source=target.source))
    left = target.kcal - eaten
    lines = [(_("You've had {eaten} of {target} kcal today: {left} kcal left.") if left >= 0 else
              _("You've had {eaten} of {target} kcal today: {left} kcal over your target.")).format(
        eaten=f"{eaten:.0f}", target=target.kcal, left=f"{abs(left):.0f}")]
    return reply(*lines, *(f"⚠️ {note}" for note in target.notes), _("See the entries with /today"))


def _target(turn: Turn) -> Reply:
    target = daily_target(turn.profile)
    if target.kcal is None:
        return reply(_("To work out a daily target I need more: {source}.").format(source=target.source),
                     *(f"⚠️ {n}" for n in target.notes))
    return reply(_("Your daily target is {kcal} kcal ({source}).").format(kcal=target.kcal, source=target.source),
                 *(f"⚠️ {note}" for note in target.notes), _("See today's total with /today"))


def _bmi(turn: Turn) -> Reply:
    line = bmi_line(turn.profile)
    if line is None:
        return reply(_("I need your height and weight for that: tell me “my weight is 70 kg” and “I'm 172 cm”, "
                       "or /set height_cm 172 and /set weight_kg 70"))
    index = bmi(turn.profile)
    if index is None or not bmi_plausible(index):
        return reply(f"⚠️ {line}")
    profile = turn.profile
    return reply(_("With {kg} kg at {cm} cm: {bmi}.").format(kg=fmt_g(profile["weight_kg"]),
                                                             cm=fmt_g(profile["height_cm"]), bmi=line))


def _said_before(turn: Turn) -> Reply:
    said = [m for m in turn.history if m["role"] == "user" and not m["content"].lstrip().startswith("/")]
    if said:
        # The user's own text, not HTML: escaped once, never parsed ("2>1" stays "2>1").
        return reply(_("Earlier you said: “{said}”").format(said=esc(said[-1]["content"], 200)))
    commands_only = any(m["role"] == "user" for m in turn.history)
    return reply(_("You've only sent commands so far (/history shows them).") if commands_only
                 else _("This is the start of our conversation."))


def _food_info(turn: Turn, query: str) -> Reply:
    amount, food_words = split_amount_anywhere(query)
    food = best_match(food_words, search_foods(query=food_words)) if food_words else None
    if food is None:
        return food_commands.not_found(food_words or query)
    if amount is None or food.get("kcal") is None:
        return food_commands.cmd_food(turn, food_words)
    grams = grams_of(amount, food=food, query=food_words)
    kcal = float(food["kcal"]) * float(grams) / 100
    return reply(_("{amount} {food} ({grams}) of <b>{description}</b>: about {kcal} kcal.").format(
        amount=esc(amount.text, 40), food=esc(food_words, 80), grams=fmt_grams(grams),
        description=esc(food["description"], 120), kcal=f"{kcal:.0f}"),
        _("To log it: /log {amount} {food}").format(amount=esc(amount.text, 40), food=esc(food_words, 80)))


def _undo(turn: Turn) -> Reply:
    return food_commands.cmd_undo(turn, "")


def _food_mention(turn: Turn, food: str) -> Reply:
    single = food.rstrip("s") if food not in {"oats", "chips", "fries", "cheerios", "hummus"} else food
    lines = [_("Sounds like {food}. For its nutrition per 100 g: /food {single}").format(food=esc(food), single=esc(single)),
             _("Had some? Tell me “I had 1 {single}”, or /log 100 g {single}").format(single=esc(single))]
    if diet := (turn.memory.get("preferences") or {}).get("diet"):
        lines.append(_("(I remember your diet preference: {diet}.)").format(diet=esc(diet)))
    return reply(*lines)


def _unknown(turn: Turn) -> Reply:
    return reply(_("Sorry, I didn't understand that. {can_do}").format(can_do=CAN_DO), helpful=False)


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
    "greeting": lambda turn: reply(_("Hi {name}! Tell me what you ate, ask about a food, or send /help.").format(
        name=_name(turn))),
    "thanks": lambda turn: reply(_("You're welcome, {name}!").format(name=_name(turn))),
    "food_mention": _food_mention,
    "unknown": _unknown,
}
