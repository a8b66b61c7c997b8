"""The evening summary: the day's totals against the target, what is left, and the weight trend."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy

from memory import weights
from memory.energy import daily_target
from memory.models import Profile
from memory.selectors import load_user_memory
from nutrition.selectors import diary_day, user_zone

from ..replies import fmt_number, localized

# Lines kept whole (format fields, not concatenation) so gettext can wrap each.
TITLE = gettext_lazy("<b>Your day</b> ({day})")
NOTHING = gettext_lazy("Nothing logged today. Tell me what you ate (“I had 2 eggs”) and I'll count it.")
EATEN = gettext_lazy("Eaten: {kcal} kcal · protein {protein} g · fat {fat} g · carbs {carbs} g")
LEFT = gettext_lazy("Left of your {target} kcal target: {left} kcal")
OVER = gettext_lazy("Over your {target} kcal target by {over} kcal")
NO_TARGET = gettext_lazy("No daily target yet: /set kcal_target 2000, or tell me your age, sex, height and weight.")
TREND = gettext_lazy("Weight: {kg} kg, {change} over {days} days")
TREND_SHORT = gettext_lazy("Weight: {kg} kg (tell me again in a few days and I'll show the trend)")
FOOTER = gettext_lazy("/today has the entries · /remind off N stops this summary")


def summary_text(*, profile: Profile, now: datetime.datetime | None = None) -> str:
    now = now or timezone.now()
    memory = load_user_memory(user_id=profile.pk) or {}
    cached = memory.get("profile") or {}
    zone = user_zone(profile.tz)
    today = timezone.localtime(now, zone).date()
    diary = diary_day(user_id=profile.pk, day=today, tz=profile.tz)
    lines = [TITLE.format(day=date_format(today, "D j M"))]
    if diary["entries"]:
        lines.append(EATEN.format(kcal=fmt_number(diary["kcal"]), protein=fmt_number(diary["protein"]),
                                  fat=fmt_number(diary["fat"]), carbs=fmt_number(diary["carbs"])))
    else:
        lines.append(str(NOTHING))
    target = daily_target(cached).kcal if cached else None
    if target:
        eaten = float(diary["kcal"])
        lines.append(LEFT.format(target=target, left=fmt_number(target - eaten)) if eaten <= target
                     else OVER.format(target=target, over=fmt_number(eaten - target)))
    else:
        lines.append(str(NO_TARGET))
    entries = weights.history(memory.get("weights") or [])
    if entries:
        change = weights.change_over(entries, 7, now=now)
        if change is None:
            lines.append(TREND_SHORT.format(kg=localized(f"{entries[0].kg:g}")))
        else:
            delta, then = change
            days = max((now - then.at).days, 1)
            lines.append(TREND.format(kg=localized(f"{entries[0].kg:g}"),
                                      change=localized(f"{delta:+g} kg").replace("-", "−"), days=days))
    lines.append(str(FOOTER))
    return "\n".join(lines)
