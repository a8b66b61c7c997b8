"""Meals said in words or with /log: each item logged when understood, asked about when not, and
corrections of what was logged. Nothing here guesses: an item is logged with the amount said or a
typical portion the reply names, or the bot asks (a pending question, kept in user memory so the
answer may reach any worker), or says why it cannot log it.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.translation import gettext as _, gettext_lazy, ngettext

from healthagent.errors import ApplicationError
from memory.services import pending_set
from nutrition.amounts import split_amount, split_amount_anywhere, weighed
from nutrition.matching import content_words
from nutrition.phrases import Item, meal_items
from nutrition.portions import MAX_GRAMS, TENTH, Unweighable, grams_of
from nutrition.reading import NO_FOOD_NAMED, Reading, read_answer, read_item
from nutrition.sample import OFFLINE_NOTE, tokens
from nutrition.selectors import diary_day, search_foods
from nutrition.services import LOG_USAGE, food_correct, food_log_reading

from .food_commands import SAMPLE_NOTE, logged_line
from .replies import Reply, esc, fmt_grams, fmt_number, reply
from .turn import Turn

MAX_ITEMS = 8  # foods logged from one message
# The whole message, not its first word: "no, 150 g" answers with an amount.
SKIP = re.compile(r"^(?:skip(?: it)?|no(?: thanks)?|nope|none|nothing|cancel|forget it|never ?mind|don't log it|"
                  r"leave it)[.!]*$", re.I)
_HEDGES = re.compile(r"^(?:(?:no|sorry|actually|oops|well|ok|okay|hmm)[,.!]?\s+|(?:about|around|roughly|"
                     r"approx(?:imately)?|maybe|probably|~|just|only|it was|i had|like|ca\.?)\s+)+", re.I)


def _pending_item(reading: Reading) -> dict:
    return {"said": reading.item.text[:200], "query": reading.query[:200], "to": reading.item.to[:200],
            "addition": reading.item.addition}


def _not_found_line(reading: Reading) -> str:
    query = reading.query or reading.item.text
    why = f" ({esc(reading.problem, 200)})" if reading.problem and reading.problem != NO_FOOD_NAMED else ""
    return _("Not logged: {item} — not in the food data{why}. Look it up with /food {query}").format(
        item=esc(reading.item.text, 60), why=why, query=esc(query, 60))


LOGGED_FOOTER = gettext_lazy("/undo removes the last entry · /today shows the day · “the butter was 10 g” corrects one")


def _reply(turn: Turn, readings: list[Reading], *, extra: list[str] | None = None,
           footer: object = LOGGED_FOOTER) -> Reply:
    """Log what was understood, ask about the first thing that was not (keeping the rest asked
    about next), and say what could not be logged."""
    lines, asked, sample, not_found, logged_any = [], [], False, False, False
    for reading in readings:
        if reading.negligible:
            lines.append(_("({item}: nothing to count, not logged)").format(item=esc(reading.item.text, 40)))
        elif reading.loggable:
            logged = food_log_reading(user_id=turn.user_id, reading=reading)
            lines.append(logged_line(logged))
            logged_any = True
            sample = sample or (reading.food or {}).get("source") == "sample"
        elif reading.question:
            asked.append(reading)
        elif reading.not_found:
            lines.append(_not_found_line(reading))
            not_found = True
        else:
            lines.append(_("Not logged: {item} — {problem}").format(item=esc(reading.item.text, 60),
                                                                       problem=esc(reading.problem, 300)))
    lines += extra or []
    if not logged_any and not asked and not_found and all(r.not_found or r.negligible for r in readings):
        said = ", ".join(r.item.text for r in readings if r.not_found)
        head = [_("I couldn't find “{said}” in the food data, so I logged nothing. To log food, name it "
                  "with an amount, like “I had 2 eggs” or /log 150 g banana.").format(said=esc(said, 100))]
        if settings.NUTRITION_PROVIDER == "sample":
            head.append(f"<i>{esc(OFFLINE_NOTE, 400)}</i>")
        return reply(*head, *(_("Look it up with /food {query}").format(query=esc(r.query or r.item.text, 60))
                              for r in readings if r.not_found), helpful=False)
    if not_found and settings.NUTRITION_PROVIDER == "sample":
        lines.append(f"<i>{esc(OFFLINE_NOTE, 400)}</i>")
    if sample:
        lines.append(str(SAMPLE_NOTE))
    if logged_any:
        lines.append(str(footer))
    if asked:
        pending_set(user_id=turn.user_id, pending={"items": [_pending_item(r) for r in asked]})
        lines.append(_question(asked[0], len(asked) - 1))
    elif turn.memory.get("pending"):
        pending_set(user_id=turn.user_id, pending=None)
    return reply(*lines)


def _question(reading: Reading, more: int) -> str:
    tail = ngettext(" (then {more} more to ask)", " (then {more} more to ask)", more).format(more=more) if more else ""
    return _("❓ {question} — or “skip”.{tail}").format(question=esc(reading.question, 300), tail=tail)


def log_meal(turn: Turn, meal: str) -> Reply:
    items = meal_items(meal)
    readings = [read_item(item) for item in items[:MAX_ITEMS]]
    extra = ([_("That was {n} things: I took only the first {max}. Send the rest again.").format(
        n=len(items), max=MAX_ITEMS)] if len(items) > MAX_ITEMS else [])
    return _reply(turn, readings, extra=extra)


def cmd_log(turn: Turn, args: str) -> Reply:
    """/log: the same reading as free text; one item that cannot be logged is refused with why."""
    items = meal_items(args) or ([Item(args.strip())] if args.strip() else [])
    if not items:
        raise ApplicationError(LOG_USAGE)
    readings = [read_item(item) for item in items[:MAX_ITEMS]]
    if len(readings) == 1 and readings[0].problem == NO_FOOD_NAMED:
        raise ApplicationError(LOG_USAGE)
    if len(readings) == 1 and (only := readings[0]).problem and not only.not_found:
        raise ApplicationError(only.problem)
    if len(readings) == 1 and only.not_found:
        lines = [_("No food matched “{query}”, so nothing logged. Try a simpler name, like /log 150 g banana, or "
                   "look it up with /food {short}").format(query=esc(only.query or args.strip(), 100),
                                                            short=esc(only.query or args.strip(), 60))]
        if only.problem and only.problem != NO_FOOD_NAMED:
            lines.append(f"({esc(only.problem, 200)})")
        if settings.NUTRITION_PROVIDER == "sample":
            lines.append(f"<i>{esc(OFFLINE_NOTE, 400)}</i>")
        return reply(*lines)
    return _reply(turn, readings, footer=_("/undo to remove it · /today for the day"))


def log_readings(turn: Turn, readings: list[Reading]) -> Reply:
    """Log what was understood and ask about the rest, as a meal in words is (a confirmed photo)."""
    return _reply(turn, readings)


def unhedged(text: str) -> str:
    """An answer without its hedges: "no, about 150 g." → "150 g"."""
    return _HEDGES.sub("", text.strip().rstrip(".!"))


def answer_pending(turn: Turn, text: str) -> Reply | None:
    """The answer to the question the bot asked, when `text` is one: an amount ("10 g", "a pat",
    "2"), maybe with the food's name, or "skip". None when `text` is something else."""
    pending = turn.memory.get("pending")
    if not pending or "items" not in pending:  # a photo's proposal is conversations.photos'
        return None
    items = [Item(p["said"], addition=p["addition"], to=p["to"]) for p in pending["items"]]
    first, query = items[0], pending["items"][0]["query"]
    said = unhedged(text)
    if SKIP.match(said):
        rest = [read_item(item) for item in items[1:]]
        return (_reply(turn, rest, extra=[_("OK, {food} not logged.").format(food=esc(query, 60))]) if rest
                else _skip(turn, query))
    try:
        amount, words = split_amount_anywhere(said)
    except ApplicationError as error:
        return reply(_("{error} — how much {food} was it? (or “skip”)").format(error=esc(error.message, 300),
                                                                             food=esc(query, 60)))
    if amount is None or (words.strip() and not set(content_words(words)) <= set(tokens(query)) | {"it", "them"}):
        return None
    reading = read_answer(first, query, said if words.strip() else f"{amount.text}")
    return _reply(turn, [reading, *(read_item(item) for item in items[1:])])


def _skip(turn: Turn, query: str) -> Reply:
    pending_set(user_id=turn.user_id, pending=None)
    return reply(_("OK, {food} not logged.").format(food=esc(query, 60)))


def drop_pending(turn: Turn) -> None:
    """A message that is no answer: the question lapses (a later "2" must not answer it)."""
    if turn.memory.get("pending"):
        pending_set(user_id=turn.user_id, pending=None)


def _entry_for(turn: Turn, food: str) -> dict | None:
    """Today's entry `food` names (the latest one), or the last entry of today without a name."""
    entries = diary_day(user_id=turn.user_id, tz=turn.tz)["entries"]
    wanted = set(content_words(food))
    if not wanted:
        return entries[-1] if entries else None
    for entry in reversed(entries):
        if wanted & set(tokens(f"{entry['said']} {entry['description']}")):
            return entry
    return None


def correct(turn: Turn, food: str, amount: str, said: str) -> Reply:
    """"the butter was only 10 g": the named entry of today (or the last one) gets the new amount."""
    entry = _entry_for(turn, food)
    if entry is None:
        return reply(_("I found no entry for {food} today to change, so nothing changed. /today lists the day's "
                        "entries.").format(food=esc(food, 40)) if food else
                      _("I found no entry today to change, so nothing changed. /today lists the day's entries."))
    new, words = split_amount_anywhere(said)
    assert new is not None, "intents.correction checked the amount"
    name = words.strip() or (split_amount(entry["said"])[1] if entry["said"] else "") or entry["description"]
    grams = _grams(entry, new, name)
    # The same food again (a cached lookup), so the nutrients come from its per-100 g values rather
    # than from the entry's rounded ones: 5 g of butter holds "0.0 g" protein, 10 g does not.
    try:
        found = search_foods(query=entry["description"][:100])
    except ApplicationError:  # FDC unreachable: the entry's own values are scaled instead
        found = []
    same = next((food for food in found if entry["fdc_id"] is not None and food.get("fdc_id") == entry["fdc_id"]),
                None)
    old, changed = food_correct(user_id=turn.user_id, entry_id=entry["id"], grams=grams, food=same,
                                said="" if weighed(new) else f"{new.text}{' ' if new.unit == 'item' else ' of '}{name}")
    return reply(_("Changed {food}: {old_grams} → {new_grams}, {old_kcal} → {new_kcal} kcal (<b>{description}</b>).").format(
        food=esc(name, 60), old_grams=fmt_grams(old["grams"]), new_grams=fmt_grams(changed.grams),
        old_kcal=fmt_number(old["kcal"]), new_kcal=fmt_number(changed.kcal), description=esc(changed.description, 120)),
        _("See the day with /today"))


def _grams(entry: dict, new, name: str) -> Decimal:
    """The grams of `new` for this entry: by its own weight per piece where it was logged in the
    same piece, else by the food's measures."""
    old = None
    if entry["said"]:
        try:
            old = split_amount(entry["said"])[0]
        except ApplicationError:
            old = None
    if new.unit != "g" and old is not None and old.unit == new.unit and (old.factor or 1) == (new.factor or 1):
        grams = (entry["grams"] / old.quantity * new.quantity).quantize(TENTH, rounding=ROUND_HALF_UP)
    else:
        try:
            grams = grams_of(new, food={"description": entry["description"], "portions": {}}, query=name)
        except Unweighable:
            raise ApplicationError(_("I can't weigh {amount} of {food}: tell me in grams, like “the {food} was "
                                     "150 g”.").format(amount=new.text, food=name)) from None
    if not 0 < grams <= MAX_GRAMS:
        raise ApplicationError(_("That is not an amount one entry can have (more than 0, at most 5 kg)."))
    return grams
