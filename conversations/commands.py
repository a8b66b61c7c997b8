"""The bot's slash commands. Each takes the turn and the text after the command, and returns a Reply.

User-facing failures are raised as ApplicationError; bot.respond turns them into the reply.
"""

from __future__ import annotations

import datetime
from typing import Callable

from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext as _, gettext_lazy

from healthagent.errors import ApplicationError
from memory import services as memory_services
from memory import weights
from memory.energy import DISCLAIMER, bmi, bmi_line, bmi_plausible, daily_target, implausible_bmi_note
from memory.fields import FIELDS, LABELS, canonical_field, label_in_text, shown
from nutrition.selectors import user_zone

from .export import cmd_export
from .food_commands import CACHE_KEYS, cmd_delete, cmd_food, cmd_today, cmd_undo
from .meals import cmd_log
from .progress import cmd_month, cmd_week
from .language import supported
from .reminder_commands import REMINDER_COMMANDS
from .replies import Reply, esc, fmt_g, reply, to_plain
from .selectors import HISTORY_MAX, get_conversation_history
from .turn import Turn

__all__ = ["CACHE_KEYS", "COMMANDS", "HELP", "Turn"]  # Turn is imported from here by the webhook's code path


HELP = (
    gettext_lazy("<b>What I can do</b>"),
    gettext_lazy("/log &lt;amount&gt; &lt;food&gt; — add to your food diary: /log 150 g banana, /log 2 eggs, "
                 "/log 1 tbsp olive oil, /log a slice of bread"),
    gettext_lazy("/today — today's numbered entries and totals against your target (/diary yesterday for the day "
                 "before)"),
    gettext_lazy("/undo — remove the last entry · /delete N — remove entry N of /today"),
    gettext_lazy("/food &lt;query&gt; — nutrition per 100 g, e.g. /food banana"),
    gettext_lazy("/profile — what I know about you · /weight — your weight over time (/weight 72.5 records one)"),
    gettext_lazy("/week, /month — calories per day against your target and your weight, as a chart"),
    gettext_lazy("/export — your diary and weights as a CSV file"),
    format_lazy(gettext_lazy("/set &lt;field&gt; &lt;value&gt; — e.g. /set weight_kg 70 (fields: {fields})"),
                fields=", ".join(FIELDS)),
    gettext_lazy("/set language de — reply in German (en English, es Spanish; auto: your Telegram app's language)"),
    gettext_lazy("/pref &lt;key&gt; &lt;value&gt; — remember a preference, e.g. /pref diet vegetarian (value - "
                 "removes it)"),
    gettext_lazy("/prefs — your preferences"),
    gettext_lazy("/history [n] — our last n messages (default 10)"),
    gettext_lazy("/remind 13:00 log lunch — a reminder in your time zone (also: in 20 minutes …, every day 21:00 …, "
                 "every 2 hours between 9 and 18 …) · /reminders lists them · /remind off N stops one"),
    gettext_lazy("/summary on 21:00 — the summary of your day each evening (/summary off) · /quiet 22:00-07:00 — "
                 "no reminders then"),
    gettext_lazy("/forget — delete everything I keep about you (asks first)"),
    gettext_lazy("Or just write: “I had 2 slices of toast with butter and a coffee”, “the butter was only 10 g”, "
                 "“I'm 34, female, 165 cm and 72 kg”, “what did I eat today?”, “how much protein did I eat "
                 "today?”, “how many calories are left?”"),
    "",
    DISCLAIMER,
)


def cmd_start(turn: Turn, args: str) -> Reply:
    name = turn.profile.get("name") or turn.first_name or _("there")
    return reply(_("Hi {name}! I'm your health assistant: I look up foods, keep a food diary "
                   "and remember your profile.").format(name=esc(name, 60)), "", *HELP)


def cmd_help(turn: Turn, args: str) -> Reply:
    return reply(*HELP)


def target_lines(profile: dict) -> list[str]:
    target = daily_target(profile)
    line = (_("Daily target: {kcal} kcal ({source})").format(kcal=target.kcal, source=target.source) if target.kcal
            else _("Daily target: {source}").format(source=target.source))
    return [line, *(f"⚠️ {note}" for note in target.notes)]


def cmd_profile(turn: Turn, args: str) -> Reply:
    lines = [_("<b>Your profile</b>")]
    for field in FIELDS:
        if field == "kcal_target":
            continue  # shown below, with where it comes from and its cautions
        lines.append(f"{LABELS[field]}: {esc(shown(field, turn.profile.get(field)), 100)}")
    if line := bmi_line(turn.profile):
        index = bmi(turn.profile)
        lines.append(line if index is not None and bmi_plausible(index) else f"⚠️ {line}")
    lines += target_lines(turn.profile)
    lines.append(_("Change a value with /set, e.g. /set weight_kg 72"))
    return reply(*unique(lines))


def unique(lines: list[str]) -> list[str]:
    """`lines` without a repeated line (a caution two checks both raise is said once)."""
    seen: set[str] = set()
    kept = []
    for line in lines:
        if line and line in seen:
            continue
        seen.add(line)
        kept.append(line)
    return kept


_TARGET_FIELDS = ("kcal_target", "age", "goal", "sex", "weight_kg", "height_cm", "activity")


def saved_many(turn: Turn, fields: list[str], profile) -> list[str]:
    """"Saved: name Maria, age 34 years, … ." and what the change means: cautions, the new target."""
    values = {field: getattr(profile, field) for field in fields}
    said = [f"{label_in_text(field)} {esc(shown(field, value), 100)}" for field, value in values.items()
            if not (field == "kcal_target" and value is None)]
    lines = [_("Saved: {values}.").format(values=", ".join(said))] if said else []
    updated = {**turn.profile, **{field: float(value) if field in ("height_cm", "weight_kg") and value is not None
                                  else value for field, value in values.items()}}
    if "kcal_target" in values and values["kcal_target"] is None:
        lines.append(_("Your own daily target is gone: I use the estimate from your profile again."))
    if {"height_cm", "weight_kg"} & values.keys() and (note := implausible_bmi_note(updated)):
        lines.append(f"⚠️ {note}")
    if set(_TARGET_FIELDS) & values.keys():
        target = daily_target(updated)
        if len(values) > 1 or "kcal_target" in values:
            lines.append(_("Daily target: {kcal} kcal ({source})").format(kcal=target.kcal, source=target.source)
                         if target.kcal else _("Daily target: {source}.").format(source=target.source))
        lines += [f"⚠️ {note}" for note in target.notes]
    return unique(lines)


def saved_reply(turn: Turn, field: str, profile) -> Reply:
    return reply(*saved_many(turn, [field], profile))


def cmd_weight(turn: Turn, args: str) -> Reply:
    """/weight: the weight history and its change over 7 and 30 days; /weight 72.5 records one."""
    if args.strip():
        return cmd_set(turn, f"weight_kg {args.strip().removesuffix('kg').strip()}")
    entries = weights.history(turn.memory.get("weights") or [])
    if not entries:
        return reply(_("No weight yet. Tell me “my weight is 72 kg” or send /weight 72 — each one is kept with its "
                       "date, so I can show how it changes."))
    zone = user_zone(turn.tz)
    day = lambda at: date_format(timezone.localtime(at, zone), "j M")  # noqa: E731
    lines = [_("<b>Your weight</b>: {kg} kg ({day})").format(kg=fmt_g(entries[0].kg), day=day(entries[0].at))]
    if len(entries) > 1:
        lines.append(_("Last entries: {entries}").format(
            entries=" · ".join(f"{day(e.at)} {fmt_g(e.kg)} kg" for e in entries[:7])))
    now = timezone.now()
    spans = []
    for days in (7, 30):
        change = weights.change_over(entries, days, now=now)
        if change is None:
            continue
        delta, then = change
        span = (_("over {days} days").format(days=days) if now - then.at >= datetime.timedelta(days=days) else
                _("since earlier today") if day(then.at) == day(now) else _("since {day}").format(day=day(then.at)))
        moved = _("no change") if delta == 0 else f"{'+' if delta > 0 else '−'}{fmt_g(abs(delta))} kg"
        text = f"{moved} {span}"
        if text not in spans:
            spans.append(text)
    lines.append(_("Change: {changes}").format(changes=" · ".join(spans)) if spans else
                 _("Tell me your weight again another day and I'll show how it changes."))
    return reply(*lines, _("Record a new one with /weight 72.5 or “my weight is 72.5 kg”"))


def cmd_set(turn: Turn, args: str) -> Reply:
    field, _sep, value = args.strip().partition(" ")
    if not field:
        raise ApplicationError(_("Usage: /set <field> <value>, e.g. /set weight_kg 70. Fields: {fields}").format(
            fields=", ".join(FIELDS)))
    profile = memory_services.profile_update(user_id=turn.user_id, field=field, raw_value=value)
    if canonical_field(field) == "language":  # said in the language just chosen
        with translation.override(supported(profile.language) or turn.telegram_language):
            return saved_reply(turn, "language", profile)
    return saved_reply(turn, canonical_field(field), profile)


def cmd_pref(turn: Turn, args: str) -> Reply:
    key, _sep, value = args.strip().partition(" ")
    if not key:
        raise ApplicationError(_("Usage: /pref <key> <value>, e.g. /pref diet vegetarian (value - removes it)"))
    if value.strip() == "-":
        removed = memory_services.preference_delete(user_id=turn.user_id, key=key)
        return reply((_("Removed {key}.") if removed else _("You had no preference {key}.")).format(key=esc(key, 32)))
    preference = memory_services.preference_set(user_id=turn.user_id, key=key, value=value)
    return reply(_("Noted: {key} = {value}").format(key=esc(preference.key), value=esc(preference.value)))


def cmd_prefs(turn: Turn, args: str) -> Reply:
    preferences = turn.memory.get("preferences") or {}
    if not preferences:
        return reply(_("No preferences yet. Add one with /pref diet vegetarian"))
    return reply(_("<b>Your preferences</b>"), *(f"{esc(k)}: {esc(v)}" for k, v in sorted(preferences.items())))


def ascii_int(raw: str, *, max_digits: int) -> int | None:
    """`raw` as a non-negative int when it is 1..max_digits ASCII digits, else None. str.isdigit()
    also accepts "²" and "①", which int() refuses, and int() refuses very long digit strings."""
    if not 1 <= len(raw) <= max_digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def cmd_history(turn: Turn, args: str) -> Reply:
    n = ascii_int(args.strip() or "10", max_digits=3)
    if n is None or not 1 <= n <= HISTORY_MAX:
        raise ApplicationError(_("Usage: /history [n], n a whole number from 1 to {max}, e.g. /history 5").format(
            max=HISTORY_MAX))
    messages = [m for m in get_conversation_history(user_id=turn.user_id, limit=n + 1) if m["id"] != turn.message_id]
    messages = messages[-n:]
    if not messages:
        return reply(_("No conversation yet."))
    who = {"user": _("You"), "assistant": _("Me")}
    return reply(_("<b>Last {n} messages</b>").format(n=len(messages)),
                 *(f"<b>{who[m['role']]}:</b> {esc(_as_written(m), 300)}" for m in messages))


def _as_written(message: dict) -> str:
    """Plain text of a history message: the user's own text as typed (it is not HTML), the bot's
    replies with their markup taken out."""
    return message["content"] if message["role"] == "user" else to_plain(message["content"])


def cmd_forget(turn: Turn, args: str) -> Reply:
    if args.strip().lower() != "yes":
        return reply(_("This deletes your profile, preferences, food diary, reminders and our conversation, and "
                       "can't be undone. To go ahead, send /forget yes"))
    memory_services.user_forget(user_id=turn.user_id)
    return reply(_("Done: I deleted your profile, preferences, diary, reminders and our conversation."), store=False)


COMMANDS: dict[str, Callable[[Turn, str], Reply]] = {
    "start": cmd_start, "help": cmd_help, "profile": cmd_profile, "set": cmd_set, "pref": cmd_pref,
    "prefs": cmd_prefs, "food": cmd_food, "log": cmd_log, "today": cmd_today, "diary": cmd_today,
    "undo": cmd_undo, "delete": cmd_delete, "history": cmd_history, "forget": cmd_forget, "weight": cmd_weight,
    "week": cmd_week, "month": cmd_month, "export": cmd_export,
    **REMINDER_COMMANDS,
}
