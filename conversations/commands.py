"""The bot's slash commands. Each takes the turn and the text after the command, and returns a Reply.

User-facing failures are raised as ApplicationError; bot.respond turns them into the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.conf import settings

from healthagent.errors import ApplicationError
from memory import services as memory_services
from memory.energy import bmi, kcal_target
from memory.fields import FIELDS
from nutrition.selectors import diary_day, search_foods
from nutrition.services import food_log

from .replies import Reply, esc, fmt_number, reply, to_plain
from .selectors import HISTORY_MAX, get_conversation_history


@dataclass(frozen=True)
class Turn:
    user_id: int
    first_name: str
    memory: dict
    message_id: int | None = None  # the stored user message of this turn, left out of /history
    history: tuple[dict, ...] = ()  # recent messages before this one, oldest first

    @property
    def profile(self) -> dict:
        return self.memory.get("profile") or {}


HELP = (
    "<b>What I can do</b>",
    "/profile — what I know about you",
    "/set &lt;field&gt; &lt;value&gt; — e.g. /set weight_kg 70 (fields: " + ", ".join(FIELDS) + ")",
    "/pref &lt;key&gt; &lt;value&gt; — remember a preference, e.g. /pref diet vegetarian (value - removes it)",
    "/prefs — your preferences",
    "/food &lt;query&gt; — nutrition per 100 g, e.g. /food banana",
    "/log &lt;amount&gt; &lt;unit&gt; &lt;food&gt; — add to your food diary, e.g. /log 150 g banana",
    "/today — today's totals against your target",
    "/history [n] — our last n messages (default 10)",
    "/forget — delete everything I keep about you",
)


def cmd_start(turn: Turn, args: str) -> Reply:
    name = turn.profile.get("name") or turn.first_name or "there"
    return reply(f"Hi {esc(name, 60)}! I'm your health assistant: I look up foods, keep a food diary "
                 "and remember your profile.", "", *HELP)


def cmd_help(turn: Turn, args: str) -> Reply:
    return reply(*HELP)


def cmd_profile(turn: Turn, args: str) -> Reply:
    units = {"height_cm": " cm", "weight_kg": " kg", "kcal_target": " kcal", "age": " years"}
    lines = ["<b>Your profile</b>"]
    for field in FIELDS:
        value = turn.profile.get(field)
        shown = "—" if value in (None, "") else esc(f"{value:g}" if isinstance(value, float) else value, 100)
        lines.append(f"{field}: {shown}{units.get(field, '') if value not in (None, '') else ''}")
    if (index := bmi(turn.profile)) is not None:
        lines.append(f"BMI: {index}")
    target, source = kcal_target(turn.profile)
    lines.append(f"Daily target: {target} kcal ({source})" if target else f"Daily target: {source}")
    return reply(*lines)


def cmd_set(turn: Turn, args: str) -> Reply:
    field, _, value = args.strip().partition(" ")
    if not field:
        raise ApplicationError("Usage: /set <field> <value>, e.g. /set weight_kg 70. Fields: " + ", ".join(FIELDS))
    profile = memory_services.profile_update(user_id=turn.user_id, field=field, raw_value=value)
    field = field.strip().lower()
    saved = getattr(profile, field)
    return reply(f"Saved: {field} = {esc(saved, 100)}")


def cmd_pref(turn: Turn, args: str) -> Reply:
    key, _, value = args.strip().partition(" ")
    if not key:
        raise ApplicationError("Usage: /pref <key> <value>, e.g. /pref diet vegetarian (value - removes it)")
    if value.strip() == "-":
        removed = memory_services.preference_delete(user_id=turn.user_id, key=key)
        return reply(f"Removed {esc(key, 32)}." if removed else f"You had no preference {esc(key, 32)}.")
    preference = memory_services.preference_set(user_id=turn.user_id, key=key, value=value)
    return reply(f"Noted: {esc(preference.key)} = {esc(preference.value)}")


def cmd_prefs(turn: Turn, args: str) -> Reply:
    preferences = turn.memory.get("preferences") or {}
    if not preferences:
        return reply("No preferences yet. Add one with /pref diet vegetarian")
    return reply("<b>Your preferences</b>", *(f"{esc(k)}: {esc(v)}" for k, v in sorted(preferences.items())))


SAMPLE_NOTE = "<i>Sample data (offline data set), not a live USDA lookup.</i>"


def _sample_note(foods: list[dict]) -> tuple[str, ...]:
    return (SAMPLE_NOTE,) if any(food.get("source") == "sample" for food in foods) else ()


def _food_line(food: dict) -> str:
    brand = f" ({esc(food['brand'], 60)})" if food.get("brand") else ""
    return (
        f"<b>{esc(food['description'], 120)}</b>{brand} — {fmt_number(food.get('kcal'))} kcal · "
        f"P {fmt_number(food.get('protein'), 1)} g · F {fmt_number(food.get('fat'), 1)} g · "
        f"C {fmt_number(food.get('carbs'), 1)} g"
    )


def cmd_food(turn: Turn, args: str) -> Reply:
    foods = search_foods(query=args, limit=5)
    if not foods:
        return reply(f"No foods found for “{esc(args.strip(), 100)}”. Try a simpler name, e.g. /food apple")
    lines = [f"<b>Per 100 g</b>, top matches for “{esc(args.strip(), 100)}”:"]
    lines += [f"{i}. {_food_line(food)}" for i, food in enumerate(foods, 1)]
    return reply(*lines, *_sample_note(foods), f"Log one with /log 100 g {esc(args.strip(), 100)}")


LOG_USAGE = "Usage: /log <amount> <unit> <food>, e.g. /log 150 g banana (units: g, kg, oz, lb, ml)"


def cmd_log(turn: Turn, args: str) -> Reply:
    parts = args.split(maxsplit=2)
    if len(parts) < 3:
        raise ApplicationError(LOG_USAGE)
    amount, unit, query = parts
    entry = food_log(user_id=turn.user_id, amount=amount, unit=unit, query=query)
    lines = [
        f"Logged {fmt_number(entry.grams)} g <b>{esc(entry.description, 120)}</b>: {fmt_number(entry.kcal)} kcal · "
        f"P {fmt_number(entry.protein, 1)} g · F {fmt_number(entry.fat, 1)} g · C {fmt_number(entry.carbs, 1)} g",
    ]
    if settings.NUTRITION_PROVIDER == "sample":
        lines.append(SAMPLE_NOTE)
    return reply(*lines, "See the day with /today")


def cmd_today(turn: Turn, args: str) -> Reply:
    day = diary_day(user_id=turn.user_id)
    target, source = kcal_target(turn.profile)
    if not day["entries"]:
        lines = ["Nothing logged today yet. Add food with /log 150 g banana"]
    else:
        lines = ["<b>Today</b>"]
        lines += [f"• {fmt_number(e['grams'])} g {esc(e['description'], 80)} — {fmt_number(e['kcal'])} kcal"
                  for e in day["entries"]]
        lines.append(f"Total: {fmt_number(day['kcal'])} kcal · P {fmt_number(day['protein'], 1)} g · "
                     f"F {fmt_number(day['fat'], 1)} g · C {fmt_number(day['carbs'], 1)} g")
    if target:
        left = target - float(day["kcal"] or 0)
        lines.append(f"Target: {target} kcal ({source}) — {abs(left):.0f} kcal {'left' if left >= 0 else 'over'}")
    else:
        lines.append(f"No daily target yet: {source}.")
    return reply(*lines)


def cmd_history(turn: Turn, args: str) -> Reply:
    raw = args.strip() or "10"
    if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_MAX:
        raise ApplicationError(f"Usage: /history [n], n a whole number from 1 to {HISTORY_MAX}, e.g. /history 5")
    n = int(raw)
    messages = [m for m in get_conversation_history(user_id=turn.user_id, limit=n + 1) if m["id"] != turn.message_id]
    messages = messages[-n:]
    if not messages:
        return reply("No conversation yet.")
    who = {"user": "You", "assistant": "Me"}
    return reply(f"<b>Last {len(messages)} messages</b>",
                 *(f"<b>{who[m['role']]}:</b> {esc(to_plain(m['content']), 300)}" for m in messages))


def cmd_forget(turn: Turn, args: str) -> Reply:
    memory_services.user_forget(user_id=turn.user_id)
    return reply("Done: I deleted your profile, preferences, diary and our conversation.", store=False)


COMMANDS: dict[str, Callable[[Turn, str], Reply]] = {
    "start": cmd_start, "help": cmd_help, "profile": cmd_profile, "set": cmd_set, "pref": cmd_pref,
    "prefs": cmd_prefs, "food": cmd_food, "log": cmd_log, "today": cmd_today, "history": cmd_history,
    "forget": cmd_forget,
}
