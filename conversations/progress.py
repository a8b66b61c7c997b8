"""/week and /month: kcal per day against the target and the weight trend, as a chart (a photo sent
with the reply) and one line of text.

The chart is cached per user and period (caching.api.progress_key). The entry carries a hash of
everything drawn — the days, each day's kcal, the target, the weights, the language — checked against
the database on every read: a diary entry or a weight of the period that changed since (in any
process) makes a different hash, and the chart is drawn afresh. So a food logged costs the write
path nothing (no invalidation to send), and no process can be shown an old chart. Drawing is what
the cache saves (0.1–1 s with matplotlib, against about 0.05 s for a hit); the day totals are one
indexed query (two on a miss: the fill's inputs are read again after its token). docs/ARCHITECTURE.md
§5 has the reasoning.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext as _, ngettext

from caching.api import invalidate_on_commit, progress_key, read_through
from memory import weights as weight_history
from memory.energy import daily_target
from nutrition.selectors import kcal_by_day, local_today, user_zone

from . import charts
from .outgoing import can_send, photo
from .replies import Reply, fmt_g, fmt_number, reply
from .turn import Turn

DAYS = {"week": 7, "month": 30}
# The drawn chart is kept this long: its hash, not its age, decides whether it is still right.
CHART_TTL = 6 * 3600
_PNG = b"\x89PNG\r\n\x1a\n"
_HASH_BYTES = 20  # sha1
# Bump when the drawing changes: charts drawn by the old code are then drawn again.
_CHART_VERSION = 1


def _is_chart(value: object) -> bool:
    return type(value) is bytes and value[_HASH_BYTES:_HASH_BYTES + len(_PNG)] == _PNG


def cmd_week(turn: Turn, args: str) -> Reply:
    return progress_reply(turn, "week")


def cmd_month(turn: Turn, args: str) -> Reply:
    return progress_reply(turn, "month")


@dataclass(frozen=True)
class Inputs:
    """Everything a period's chart and line show."""

    period: str
    days: list[datetime.date]
    totals: list[float]  # kcal per day, 0 where nothing was logged
    logged: int  # days with something logged
    target: int | None
    weighed: list[tuple[float, float]]

    @property
    def digest(self) -> bytes:
        drawn = {"v": _CHART_VERSION, "period": self.period, "days": [day.isoformat() for day in self.days],
                 "kcal": self.totals, "target": self.target, "weights": self.weighed, "language": get_language()}
        return hashlib.sha1(json.dumps(drawn, sort_keys=True).encode(), usedforsecurity=False).digest()


def progress_reply(turn: Turn, period: str) -> Reply:
    inputs = read_inputs(turn, period)
    line = summary(inputs)
    if not can_send():
        return reply(line, _("(I can't send the chart here: the bot has no way to send pictures.)"))
    png = chart(turn, inputs)
    name = f"{period}-{inputs.days[-1].isoformat()}.png"
    return reply(line, files=(photo(png, caption=_title(period, inputs.days), filename=name),))


def read_inputs(turn: Turn, period: str) -> Inputs:
    days = _days(turn, period)
    kcal = kcal_by_day(user_id=turn.user_id, first=days[0], last=days[-1], tz=turn.tz)
    return Inputs(period=period, days=days, totals=[float(kcal.get(day, 0)) for day in days], logged=len(kcal),
                  target=daily_target(turn.profile).kcal, weighed=_weights_in(turn, days))


def _days(turn: Turn, period: str) -> list[datetime.date]:
    last = local_today(turn.tz)
    return [last - datetime.timedelta(days=n) for n in range(DAYS[period] - 1, -1, -1)]


def _weights_in(turn: Turn, days: list[datetime.date]) -> list[tuple[float, float]]:
    """(x, kg) of the weights of the period, oldest first: x in day units from the first day's bar
    (its centre at 0), placed by the time of day."""
    zone = user_zone(turn.tz)
    points = []
    for entry in reversed(weight_history.history(turn.memory.get("weights") or [])):
        at = timezone.localtime(entry.at, zone)
        offset = (at.date() - days[0]).days
        if 0 <= offset < len(days):
            points.append((offset - 0.5 + (at.hour * 60 + at.minute) / 1440, entry.kg))
    return points


def _title(period: str, days: list[datetime.date]) -> str:
    span = f"{date_format(days[0], 'j M')} – {date_format(days[-1], 'j M Y')}"
    return (_("Your week: {span}") if period == "week" else _("Your month: {span}")).format(span=span)


def summary(inputs: Inputs) -> str:
    """One line: the average of the days logged, against the target, and the weight's change."""
    totals, logged, target, weighed = inputs.totals, inputs.logged, inputs.target, inputs.weighed
    n = len(inputs.days)
    if not logged:
        parts = [_("Nothing logged in the last {n} days").format(n=n)]
    else:
        average = sum(totals) / logged
        parts = [ngettext("Last {n} days: {kcal} kcal a day on average over {logged} day logged",
                          "Last {n} days: {kcal} kcal a day on average over {logged} days logged",
                          logged).format(n=n, kcal=fmt_number(average), logged=logged)]
        if target:
            over = sum(1 for total in totals if total > target)
            parts.append(ngettext("target {target} kcal, {over} day over", "target {target} kcal, {over} days over",
                                  over).format(target=target, over=over))
    if len(weighed) >= 2:
        first, last = weighed[0][1], weighed[-1][1]
        change = round(last - first, 1)
        delta = _("no change") if change == 0 else f"{'+' if change > 0 else '−'}{fmt_g(abs(change))} kg"
        parts.append(_("weight {first} → {last} kg ({change})").format(first=fmt_g(first), last=fmt_g(last),
                                                                        change=delta))
    elif weighed:
        parts.append(_("weight {kg} kg").format(kg=fmt_g(weighed[0][1])))
    return "; ".join(parts) + "."


def chart(turn: Turn, inputs: Inputs) -> bytes:
    """The chart's PNG: cached while what it draws is unchanged (see the module's docstring)."""
    key = progress_key(turn.user_id, inputs.period)
    # A fill is drawn from inputs read after the fill's token (read_through's rule), so that a /forget
    # committing meanwhile makes the fill a no-op; a hit is compared with the inputs read above.
    entry = read_through(key, lambda: _drawn(read_inputs(turn, inputs.period)), timeout=CHART_TTL, valid=_is_chart)
    if entry[:_HASH_BYTES] == inputs.digest:
        return entry[_HASH_BYTES:]
    # Drawn from other inputs (a day went by, an entry changed): dropped once this turn commits, so
    # the next /week stores the chart of the inputs as they are then.
    invalidate_on_commit(key)
    return _drawn(inputs)[_HASH_BYTES:]


def _drawn(inputs: Inputs) -> bytes:
    """The inputs' hash followed by their chart's PNG: what the cache holds."""
    days, period = inputs.days, inputs.period
    labels = [date_format(day, "D j") if period == "week" else
              (date_format(day, "j M") if (len(days) - 1 - i) % 5 == 0 else "") for i, day in enumerate(days)]
    text = charts.ChartText(title=_title(period, days), kcal=_("kcal eaten"), target=_("daily target"),
                            weight=_("weight (kg)"))
    return inputs.digest + charts.render(day_labels=labels, kcal=inputs.totals, target=inputs.target,
                                         weights=inputs.weighed, text=text, number=fmt_g)
