"""The evening summary: the day's totals against the target, what is left, and the weight trend."""

from __future__ import annotations

import datetime

from django.utils import timezone

from memory import weights
from memory.energy import daily_target
from memory.models import Profile
from memory.selectors import load_user_memory
from nutrition.selectors import diary_day, user_zone

from ..replies import fmt_number

# Lines kept whole (format fields, not concatenation) so gettext can wrap each.
TITLE = "<b>Your day</b> ({day})"
NOTHING = "Nothing logged today. Tell me what you ate (“I had 2 eggs”) and I'll count it."
EATEN = "Eaten: {kcal} kcal · protein {protein} g · fat {fat} g · carbs {carbs} g"
LEFT = "Left of your {target} kcal target: {left} kcal"
OVER = "Over your {target} kcal target by {over} kcal"
NO_TARGET = "No daily target yet: /set kcal_target 2000, or tell me your age, sex, height and weight."
TREND = "Weight: {kg:g} kg, {change} over {days} days"
TREND_SHORT = "Weight: {kg:g} kg (tell me again in a few days and I'll show the trend)"
FOOTER = "/today has the entries · /remind off N stops this summary"


def summary_text(*, profile: Profile, now: datetime.datetime | None = None) -> str:
    now = now or timezone.now()
    memory = load_user_memory(user_id=profile.pk) or {}
    cached = memory.get("profile") or {}
    zone = user_zone(profile.tz)
    today = timezone.localtime(now, zone).date()
    diary = diary_day(user_id=profile.pk, day=today, tz=profile.tz)
    lines = [TITLE.format(day=today.strftime("%a %-d %b"))]
    if diary["entries"]:
        lines.append(EATEN.format(kcal=fmt_number(diary["kcal"]), protein=fmt_number(diary["protein"]),
                                  fat=fmt_number(diary["fat"]), carbs=fmt_number(diary["carbs"])))
    else:
        lines.append(NOTHING)
    target = daily_target(cached).kcal if cached else None
    if target:
        eaten = float(diary["kcal"])
        lines.append(LEFT.format(target=target, left=fmt_number(target - eaten)) if eaten <= target
                     else OVER.format(target=target, over=fmt_number(eaten - target)))
    else:
        lines.append(NO_TARGET)
    entries = weights.history(memory.get("weights") or [])
    if entries:
        change = weights.change_over(entries, 7, now=now)
        if change is None:
            lines.append(TREND_SHORT.format(kg=entries[0].kg))
        else:
            delta, then = change
            days = max((now - then.at).days, 1)
            lines.append(TREND.format(kg=entries[0].kg, change=f"{delta:+g} kg".replace("-", "−"), days=days))
    lines.append(FOOTER)
    return "\n".join(lines)
