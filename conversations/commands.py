"""The bot's slash commands. Each takes the turn and the text after the command, and returns a Reply.

User-facing failures are raised as ApplicationError; bot.respond turns them into the reply.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Callable

from django.conf import settings

from healthagent.errors import ApplicationError
from memory import services as memory_services
from memory.energy import DISCLAIMER, bmi_line, daily_target, implausible_bmi_note
from memory.fields import FIELDS, LABELS, shown
from nutrition.sample import OFFLINE_NOTE
from nutrition.selectors import diary_day, local_today, search_foods
from nutrition.services import Logged, food_delete, food_log, food_undo

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

    @property
    def tz(self) -> str | None:
        return self.profile.get("tz") or None


HELP = (
    "<b>What I can do</b>",
    "/log &lt;amount&gt; &lt;food&gt; — add to your food diary: /log 150 g banana, /log 2 eggs, "
    "/log 1 tbsp olive oil, /log a slice of bread",
    "/today — today's numbered entries and totals against your target (/diary yesterday for the day before)",
    "/undo — remove the last entry · /delete N — remove entry N of /today",
    "/food &lt;query&gt; — nutrition per 100 g, e.g. /food banana",
    "/profile — what I know about you",
    "/set &lt;field&gt; &lt;value&gt; — e.g. /set weight_kg 70 (fields: " + ", ".join(FIELDS) + ")",
    "/pref &lt;key&gt; &lt;value&gt; — remember a preference, e.g. /pref diet vegetarian (value - removes it)",
    "/prefs — your preferences",
    "/history [n] — our last n messages (default 10)",
    "/forget — delete everything I keep about you (asks first)",
    "Or just write: “I had 2 eggs and a coffee”, “my weight is 82 kg”, “what did I eat today?”, "
    "“how many calories are left?”",
    "",
    DISCLAIMER,
)


def cmd_start(turn: Turn, args: str) -> Reply:
    name = turn.profile.get("name") or turn.first_name or "there"
    return reply(f"Hi {esc(name, 60)}! I'm your health assistant: I look up foods, keep a food diary "
                 "and remember your profile.", "", *HELP)


def cmd_help(turn: Turn, args: str) -> Reply:
    return reply(*HELP)


def target_lines(profile: dict) -> list[str]:
    target = daily_target(profile)
    line = f"Daily target: {target.kcal} kcal ({target.source})" if target.kcal else f"Daily target: {target.source}"
    return [line, *(f"⚠️ {note}" for note in target.notes)]


def cmd_profile(turn: Turn, args: str) -> Reply:
    lines = ["<b>Your profile</b>"]
    for field in FIELDS:
        if field == "kcal_target" and not turn.profile.get(field):
            continue  # shown below with the estimate
        lines.append(f"{LABELS[field]}: {esc(shown(field, turn.profile.get(field)), 100)}")
    if line := bmi_line(turn.profile):
        lines.append(line if line.startswith("BMI") else f"⚠️ {line}")
    lines += target_lines(turn.profile)
    lines.append("Change a value with /set, e.g. /set weight_kg 72")
    return reply(*lines)


def saved_reply(turn: Turn, field: str, profile) -> Reply:
    value = getattr(profile, field)
    lines = [f"Saved: {LABELS[field].lower()} {esc(shown(field, value), 100)}."]
    updated = {**turn.profile, field: float(value) if field in ("height_cm", "weight_kg") else value}
    if field in ("height_cm", "weight_kg") and (note := implausible_bmi_note(updated)):
        lines.append(f"⚠️ {note}")
    if field in ("kcal_target", "age", "goal", "sex", "weight_kg", "height_cm"):
        lines += [f"⚠️ {note}" for note in daily_target(updated).notes]
    return reply(*lines)


def cmd_set(turn: Turn, args: str) -> Reply:
    field, _, value = args.strip().partition(" ")
    if not field:
        raise ApplicationError("Usage: /set <field> <value>, e.g. /set weight_kg 70. Fields: " + ", ".join(FIELDS))
    profile = memory_services.profile_update(user_id=turn.user_id, field=field, raw_value=value)
    return saved_reply(turn, field.strip().lower(), profile)


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


def not_found(query: str) -> Reply:
    lines = [f"No foods found for “{esc(query.strip(), 100)}”. Try a simpler name, e.g. /food apple"]
    if settings.NUTRITION_PROVIDER == "sample":
        lines.append(f"<i>{esc(OFFLINE_NOTE, 400)}</i>")
    return reply(*lines)


def cmd_food(turn: Turn, args: str) -> Reply:
    foods = search_foods(query=args)
    if not foods:
        return not_found(args)
    lines = [f"<b>Per 100 g</b>, top matches for “{esc(args.strip(), 100)}”:"]
    lines += [f"{i}. {_food_line(food)}" for i, food in enumerate(foods, 1)]
    return reply(*lines, *_sample_note(foods), f"Log one with /log 100 g {esc(args.strip(), 100)}")


def logged_line(logged: Logged) -> str:
    """"Logged 2 eggs (100 g): Egg, whole, raw, fresh — 143 kcal · P 12.6 g · F 9.5 g · C 0.7 g"."""
    entry, amount = logged.entry, logged.amount
    grams = f"{fmt_number(entry.grams)} g"
    food = esc(logged.query, 100)
    said = (f"{grams} {food}" if amount.unit == "g" else f"{esc(amount.text, 40)} {food} ({grams})"
            if amount.unit == "item" else f"{esc(amount.text, 40)} of {food} ({grams})")
    return (f"Logged {said}: <b>{esc(entry.description, 120)}</b> — {fmt_number(entry.kcal)} kcal · "
            f"P {fmt_number(entry.protein, 1)} g · F {fmt_number(entry.fat, 1)} g · C {fmt_number(entry.carbs, 1)} g")


def cmd_log(turn: Turn, args: str) -> Reply:
    logged = food_log(user_id=turn.user_id, text=args)
    lines = [logged_line(logged)]
    if settings.NUTRITION_PROVIDER == "sample":
        lines.append(SAMPLE_NOTE)
    return reply(*lines, "/undo to remove it · /today for the day")


def entry_text(entry) -> str:
    """"2 eggs (100 g Egg, whole, raw, fresh)" or "150 g Bananas, raw"; a dict or a FoodEntry."""
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    weighed = f"{fmt_number(get('grams'))} g {esc(get('description'), 80)}"
    return f"{esc(get('said'), 80)} ({weighed})" if get("said") else weighed


def diary_lines(turn: Turn, day: datetime.date | None = None) -> list[str]:
    diary = diary_day(user_id=turn.user_id, day=day, tz=turn.tz)
    today = local_today(turn.tz)
    name = ("Today" if diary["day"] == today else "Yesterday" if diary["day"] == today - datetime.timedelta(days=1)
            else diary["day"].isoformat())
    if not diary["entries"]:
        when = {"Today": "today yet", "Yesterday": "yesterday"}.get(name, f"on {name}")
        lines = [f"Nothing logged {when}. Add food with /log 150 g banana"]
    else:
        lines = [f"<b>{name}</b>"]
        lines += [f"{i}. {entry_text(e)} — {fmt_number(e['kcal'])} kcal" for i, e in enumerate(diary["entries"], 1)]
        lines.append(f"Total: {fmt_number(diary['kcal'])} kcal · P {fmt_number(diary['protein'], 1)} g · "
                     f"F {fmt_number(diary['fat'], 1)} g · C {fmt_number(diary['carbs'], 1)} g")
    target = daily_target(turn.profile)
    if target.kcal:
        left = target.kcal - float(diary["kcal"] or 0)
        lines.append(f"Target: {target.kcal} kcal ({target.source}) — {abs(left):.0f} kcal {'left' if left >= 0 else 'over'}")
    else:
        lines.append(f"No daily target yet: {target.source}.")
    if diary["entries"] and name == "Today":
        lines.append("/delete N removes entry N · /undo the last one")
    return lines


def cmd_today(turn: Turn, args: str) -> Reply:
    word = args.strip().lower()
    if word in ("", "today"):
        return reply(*diary_lines(turn))
    if word == "yesterday":
        return reply(*diary_lines(turn, local_today(turn.tz) - datetime.timedelta(days=1)))
    try:
        return reply(*diary_lines(turn, datetime.date.fromisoformat(word)))
    except ValueError:
        raise ApplicationError("Usage: /diary [today|yesterday|YYYY-MM-DD], e.g. /diary yesterday") from None


def cmd_undo(turn: Turn, args: str) -> Reply:
    entry = food_undo(user_id=turn.user_id)
    if entry is None:
        return reply("Your diary is empty: nothing to undo.")
    return reply(f"Removed {entry_text(entry)}, {fmt_number(entry.kcal)} kcal. See the day with /today")


def cmd_delete(turn: Turn, args: str) -> Reply:
    raw = args.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise ApplicationError("Usage: /delete N, with N an entry number from /today, e.g. /delete 2")
    entry = food_delete(user_id=turn.user_id, number=int(raw), tz=turn.tz)
    return reply(f"Removed entry {int(raw)}: {entry_text(entry)}, {fmt_number(entry['kcal'])} kcal. "
                 "The others are renumbered: see /today")


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
    if args.strip().lower() != "yes":
        return reply("This deletes your profile, preferences, food diary and our conversation, and can't be "
                     "undone. To go ahead, send /forget yes")
    memory_services.user_forget(user_id=turn.user_id)
    return reply("Done: I deleted your profile, preferences, diary and our conversation.", store=False)


COMMANDS: dict[str, Callable[[Turn, str], Reply]] = {
    "start": cmd_start, "help": cmd_help, "profile": cmd_profile, "set": cmd_set, "pref": cmd_pref,
    "prefs": cmd_prefs, "food": cmd_food, "log": cmd_log, "today": cmd_today, "diary": cmd_today,
    "undo": cmd_undo, "delete": cmd_delete, "history": cmd_history, "forget": cmd_forget,
}
