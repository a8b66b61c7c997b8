"""The bot's slash commands. Each takes the turn and the text after the command, and returns a Reply.

User-facing failures are raised as ApplicationError; bot.respond turns them into the reply.
"""

from __future__ import annotations

from typing import Callable

from healthagent.errors import ApplicationError
from memory import services as memory_services
from memory.energy import DISCLAIMER, bmi_line, daily_target, implausible_bmi_note
from memory.fields import FIELDS, LABELS, canonical_field, shown

from .food_commands import CACHE_KEYS, cmd_delete, cmd_food, cmd_log, cmd_today, cmd_undo
from .replies import Reply, esc, reply, to_plain
from .selectors import HISTORY_MAX, get_conversation_history
from .turn import Turn

__all__ = ["CACHE_KEYS", "COMMANDS", "HELP", "Turn"]  # Turn is imported from here by the webhook's code path


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
    return saved_reply(turn, canonical_field(field), profile)


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


def ascii_int(raw: str, *, max_digits: int) -> int | None:
    """`raw` as a non-negative int when it is 1..max_digits ASCII digits, else None. str.isdigit()
    also accepts "²" and "①", which int() refuses, and int() refuses very long digit strings."""
    if not 1 <= len(raw) <= max_digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def cmd_history(turn: Turn, args: str) -> Reply:
    n = ascii_int(args.strip() or "10", max_digits=3)
    if n is None or not 1 <= n <= HISTORY_MAX:
        raise ApplicationError(f"Usage: /history [n], n a whole number from 1 to {HISTORY_MAX}, e.g. /history 5")
    messages = [m for m in get_conversation_history(user_id=turn.user_id, limit=n + 1) if m["id"] != turn.message_id]
    messages = messages[-n:]
    if not messages:
        return reply("No conversation yet.")
    who = {"user": "You", "assistant": "Me"}
    return reply(f"<b>Last {len(messages)} messages</b>",
                 *(f"<b>{who[m['role']]}:</b> {esc(_as_written(m), 300)}" for m in messages))


def _as_written(message: dict) -> str:
    """Plain text of a history message: the user's own text as typed (it is not HTML), the bot's
    replies with their markup taken out."""
    return message["content"] if message["role"] == "user" else to_plain(message["content"])


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
