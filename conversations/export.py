"""/export: the user's food diary and weight history as one CSV file, sent as a document.

One table, a `kind` column telling diary rows (`food`) from weight rows (`weight`); times in the
user's time zone (ISO 8601 with the offset); numbers with a decimal point whatever the language, so
the file reads back anywhere. UTF-8 with a byte order mark, which spreadsheets need to read it as
UTF-8. Text that came from a user or from FDC and starts like a formula (= + - @, a tab or a carriage
return) is prefixed with ' so a spreadsheet shows it instead of running it (CSV injection).
"""

from __future__ import annotations

import csv
import io

from django.utils import timezone
from django.utils.translation import gettext as _, ngettext

from memory.selectors import weights_all
from nutrition.selectors import diary_all, user_zone

from .outgoing import can_send, document
from .replies import Reply, reply
from .turn import Turn

COLUMNS = ("kind", "time", "food", "amount", "grams", "kcal", "protein_g", "fat_g", "carbs_g", "weight_kg")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: object) -> str:
    """Text as a spreadsheet will show it, never run it."""
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: object) -> str:
    return "" if value is None else str(value)


def export_csv(*, user_id: int, tz: str | None) -> tuple[bytes, int, int]:
    """(the CSV's bytes, diary rows, weight rows)."""
    zone = user_zone(tz)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    foods = diary_all(user_id=user_id)
    for entry in foods:
        writer.writerow(["food", timezone.localtime(entry["eaten_at"], zone).isoformat(timespec="seconds"),
                         safe_cell(entry["description"]), safe_cell(entry["said"]), _number(entry["grams"]),
                         _number(entry["kcal"]), _number(entry["protein"]), _number(entry["fat"]),
                         _number(entry["carbs"]), ""])
    weights = weights_all(user_id=user_id)
    for measured_at, kg in weights:
        writer.writerow(["weight", timezone.localtime(measured_at, zone).isoformat(timespec="seconds"),
                         "", "", "", "", "", "", "", _number(kg)])
    return out.getvalue().encode("utf-8-sig"), len(foods), len(weights)


def cmd_export(turn: Turn, args: str) -> Reply:
    if not can_send():
        return reply(_("I can't send files here: the bot has no way to send documents."))
    content, foods, weights = export_csv(user_id=turn.user_id, tz=turn.tz)
    line = _("Your data as a CSV file: {foods} and {weights}.").format(
        foods=ngettext("{n} diary entry", "{n} diary entries", foods).format(n=foods),
        weights=ngettext("{n} weight", "{n} weights", weights).format(n=weights))
    name = f"healthagent-{timezone.localdate(timezone.now(), user_zone(turn.tz)).isoformat()}.csv"
    return reply(line, files=(document(content, filename=name, caption=_("Your food diary and weights")),))
