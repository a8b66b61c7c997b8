"""The food commands: /food, /log, and the diary — /today (/diary), /undo, /delete."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.conf import settings
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext as _, gettext_lazy

from healthagent.errors import ApplicationError
from memory.energy import daily_target
from nutrition.sample import OFFLINE_NOTE
from nutrition.amounts import weighed
from nutrition.matching import is_same_food
from nutrition.phrases import meal_items
from nutrition.reading import lookup_query
from nutrition.selectors import diary_day, local_today, search_cache_key, search_foods
from nutrition.services import Logged, food_delete, food_undo

from .replies import Reply, esc, fmt_grams, fmt_number, reply
from .turn import Turn


SAMPLE_NOTE = gettext_lazy("<i>Sample data (offline data set), not a live USDA lookup.</i>")


def _sample_note(foods: list[dict]) -> tuple[str, ...]:
    return (str(SAMPLE_NOTE),) if any(food.get("source") == "sample" for food in foods) else ()


def _food_line(food: dict) -> str:
    brand = f" ({esc(food['brand'], 60)})" if food.get("brand") else ""
    return (
        f"<b>{esc(food['description'], 120)}</b>{brand} — {fmt_number(food.get('kcal'))} kcal · "
        f"P {fmt_number(food.get('protein'), 1)} g · F {fmt_number(food.get('fat'), 1)} g · "
        f"C {fmt_number(food.get('carbs'), 1)} g"
    )


def not_found(query: str) -> Reply:
    lines = [_("No foods found for “{query}”. Try a simpler name, e.g. /food apple").format(query=esc(query.strip(), 100))]
    if settings.NUTRITION_PROVIDER == "sample":
        lines.append(f"<i>{esc(OFFLINE_NOTE, 400)}</i>")
    return reply(*lines)


def cmd_food(turn: Turn, args: str) -> Reply:
    # Only foods that are what was asked for: "red wine" finding grapes (by "red") is no match.
    foods = [food for food in search_foods(query=args) if is_same_food(args, food)]
    if not foods:
        return not_found(args)
    lines = [_("<b>Per 100 g</b>, top matches for “{query}”:").format(query=esc(args.strip(), 100))]
    lines += [f"{i}. {_food_line(food)}" for i, food in enumerate(foods, 1)]
    return reply(*lines, *_sample_note(foods), _("Log one with /log 100 g {query}").format(query=esc(args.strip(), 100)))


def logged_line(logged: Logged) -> str:
    """"Logged 2 eggs (100 g): Egg, whole, raw, fresh — 143 kcal · P 12.6 g · F 9.5 g · C 0.7 g";
    an amount that was assumed says so: "a pat of butter (5 g, usual with toast)"."""
    entry, amount = logged.entry, logged.amount
    grams = fmt_grams(entry.grams)
    food = esc(logged.query, 100)
    why = f", {esc(logged.assumed, 100)}" if logged.assumed else ""
    said = (f"{grams} {food}" if weighed(amount) and not why else f"{esc(amount.text, 40)} {food} ({grams}{why})"
            if amount.unit == "item" else _("{amount} of {food} ({grams}{why})").format(
                amount=esc(amount.text, 40), food=food, grams=grams, why=why))
    if logged.corrected:
        said += _(" [read {corrected}]").format(corrected=esc(logged.corrected, 80))
    return _("Logged {said}: <b>{description}</b> — {kcal} kcal · P {protein} g · F {fat} g · C {carbs} g").format(
        said=said, description=esc(entry.description, 120), kcal=fmt_number(entry.kcal),
        protein=fmt_number(entry.protein, 1), fat=fmt_number(entry.fat, 1), carbs=fmt_number(entry.carbs, 1))


def entry_text(entry) -> str:
    """"2 eggs (100 g Egg, whole, raw, fresh)" or "150 g Bananas, raw"; a dict or a FoodEntry."""
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    weighed = f"{fmt_grams(get('grams'))} {esc(get('description'), 80)}"
    return f"{esc(get('said'), 80)} ({weighed})" if get("said") else weighed


def diary_lines(turn: Turn, day: datetime.date | None = None) -> list[str]:
    diary = diary_day(user_id=turn.user_id, day=day, tz=turn.tz)
    today = local_today(turn.tz)
    is_today, is_yesterday = diary["day"] == today, diary["day"] == today - datetime.timedelta(days=1)
    # Another day: its ISO date in English, the language's own date format in the others.
    name = (_("Today") if is_today else _("Yesterday") if is_yesterday else
            diary["day"].isoformat() if get_language() == "en" else date_format(diary["day"], "DATE_FORMAT"))
    if not diary["entries"]:
        lines = [(_("Nothing logged today yet. Add food with /log 150 g banana") if is_today else
                  _("Nothing logged yesterday. Add food with /log 150 g banana") if is_yesterday else
                  _("Nothing logged on {day}. Add food with /log 150 g banana").format(day=name))]
    else:
        lines = [f"<b>{name}</b>"]
        lines += [f"{i}. {entry_text(e)} — {fmt_number(e['kcal'])} kcal" for i, e in enumerate(diary["entries"], 1)]
        lines.append(_("Total: {kcal} kcal · P {protein} g · F {fat} g · C {carbs} g").format(
            kcal=fmt_number(diary["kcal"]), protein=fmt_number(diary["protein"], 1), fat=fmt_number(diary["fat"], 1),
            carbs=fmt_number(diary["carbs"], 1)))
    target = daily_target(turn.profile)
    if target.kcal:
        left = target.kcal - float(diary["kcal"] or 0)
        lines.append((_("Target: {kcal} kcal ({source}) — {left} kcal left") if left >= 0 else
                      _("Target: {kcal} kcal ({source}) — {left} kcal over")).format(
            kcal=target.kcal, source=target.source, left=f"{abs(left):.0f}"))
    else:
        lines.append(_("No daily target yet: {source}.").format(source=target.source))
    if diary["entries"] and is_today:
        lines.append(_("/delete N removes entry N · /undo the last one"))
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
        raise ApplicationError(_("Usage: /diary [today|yesterday|YYYY-MM-DD], e.g. /diary yesterday")) from None


def cmd_undo(turn: Turn, args: str) -> Reply:
    entry = food_undo(user_id=turn.user_id)
    if entry is None:
        return reply(_("Your diary is empty: nothing to undo."))
    return reply(_("Removed {entry}, {kcal} kcal. See the day with /today").format(
        entry=entry_text(entry), kcal=fmt_number(entry.kcal)))


def cmd_delete(turn: Turn, args: str) -> Reply:
    raw = args.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise ApplicationError(_("Usage: /delete N, with N an entry number from /today, e.g. /delete 2"))
    entry = food_delete(user_id=turn.user_id, number=int(raw), tz=turn.tz)
    return reply(_("Removed entry {n}: {entry}, {kcal} kcal. The others are renumbered: see /today").format(
        n=int(raw), entry=entry_text(entry), kcal=fmt_number(entry["kcal"])))


def _food_keys(args: str) -> list[str]:
    key = search_cache_key(query=args)
    return [key] if key else []


def _log_keys(args: str) -> list[str]:
    """The lookups of a meal's items, each the query its reading will search ("some tofu": tofu)."""
    keys = []
    for item in meal_items(args):
        query = lookup_query(item)
        if query is not None and (key := search_cache_key(query=query)):
            keys.append(key)
    return keys


# The cache keys a command will read besides the user's own: read with them, in the turn's one round trip.
CACHE_KEYS: dict[str, Callable[[str], list[str]]] = {"food": _food_keys, "log": _log_keys}
