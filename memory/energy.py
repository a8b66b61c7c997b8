"""Health figures from the profile: BMI and a daily energy target (Mifflin-St Jeor), with the care
they need — implausible values are questioned, not reported, and a target never goes below the
floor without saying why.

The floor: 1200 kcal a day for women and 1500 for men is the commonly cited minimum for a diet
without medical supervision (NIH/NHLBI weight-loss guidance; "other" takes the lower one). The
estimate is made for adults.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import formats
from django.utils.translation import gettext as _, gettext_lazy

ACTIVITY_FACTORS = {"sedentary": 1.2, "light": 1.375, "moderate": 1.55, "active": 1.725, "very_active": 1.9}
GOAL_ADJUSTMENT = {"lose": -500, "maintain": 0, "gain": 300}
# Mifflin-St Jeor's sex constant; "other" takes the midpoint rather than guessing.
SEX_CONSTANT = {"male": 5, "female": -161, "other": -78}
KCAL_FLOOR = {"male": 1500, "female": 1200, "other": 1200}
# Adult BMIs outside this range do not occur in practice: such a pair of height and weight is a typo.
PLAUSIBLE_BMI = (12.0, 70.0)
HEALTHY_BMI = (18.5, 25.0)
DISCLAIMER = gettext_lazy("<i>I'm not a doctor: figures here are estimates for healthy adults, not medical advice. "
                          "For a medical condition, pregnancy or an eating disorder, ask a professional.</i>")


def _n(value: object) -> str:
    """A number as `:g` shows it, with the active language's decimal separator."""
    return f"{float(value):g}".replace(".", formats.get_format("DECIMAL_SEPARATOR"))  # type: ignore[arg-type]


def _index(value: float) -> str:
    """A BMI as it is shown: one decimal ("22.9", "5.0"), with the active language's separator."""
    return str(value).replace(".", formats.get_format("DECIMAL_SEPARATOR"))


@dataclass(frozen=True)
class Target:
    kcal: int | None
    source: str  # "your target", "estimated from your profile", or what is missing
    notes: tuple[str, ...] = ()  # cautions to show with it


def bmi(profile: dict) -> float | None:
    """The BMI, or None without both height and weight. Check `bmi_plausible` before reporting it."""
    if not (profile.get("weight_kg") and profile.get("height_cm")):
        return None
    metres = float(profile["height_cm"]) / 100
    return round(float(profile["weight_kg"]) / (metres * metres), 1)


def bmi_plausible(index: float) -> bool:
    return PLAUSIBLE_BMI[0] <= index <= PLAUSIBLE_BMI[1]


def implausible_bmi_note(profile: dict) -> str | None:
    index = bmi(profile)
    if index is None or bmi_plausible(index):
        return None
    return _("{kg} kg at {cm} cm would be a BMI of {bmi}, which isn't possible for an adult — please check your "
             "height (/set height_cm) and weight (/set weight_kg).").format(
        kg=_n(profile["weight_kg"]), cm=_n(profile["height_cm"]), bmi=_index(index))


_MISSING_NAMES = {"weight_kg": gettext_lazy("weight"), "height_cm": gettext_lazy("height"), "age": gettext_lazy("age"),
                  "sex": gettext_lazy("sex")}
_MISSING_EXAMPLES = {"weight_kg": "/set weight_kg 70", "height_cm": "/set height_cm 172", "age": "/set age 34",
                     "sex": "/set sex female"}


def _missing(fields: list[str]) -> str:
    names = [str(_MISSING_NAMES[f]) for f in fields]
    listed = names[0] if len(names) == 1 else _("{first} and {last}").format(first=", ".join(names[:-1]), last=names[-1])
    return _("tell me your {listed} ({examples}), or set your own with /set kcal_target 2000").format(
        listed=listed, examples=", ".join(_MISSING_EXAMPLES[f] for f in fields))


UNDER_18 = gettext_lazy("The formula is made for adults: under 18, ask a doctor or dietitian about energy needs.")
UNDER_18_OWN = gettext_lazy("Under 18, energy needs change as you grow: ask a doctor or dietitian before aiming for "
                            "a target.")
OVER_65_LOSE = gettext_lazy("Over 65, losing weight can cost muscle and bone: talk to your doctor before cutting "
                            "calories.")


def _age_notes(profile: dict, *, own: bool) -> list[str]:
    """Cautions that hold whichever way the target was set: age, and losing weight over 65."""
    age = profile.get("age")
    if not age:
        return []
    notes = []
    if (profile.get("goal") == "lose") and int(age) >= 65:
        notes.append(str(OVER_65_LOSE))
    if int(age) < 18:
        notes.append(str(UNDER_18_OWN if own else UNDER_18))
    return notes


def daily_target(profile: dict) -> Target:
    """The daily energy target: the user's own, else an estimate from the profile; with cautions."""
    floor = KCAL_FLOOR.get(profile.get("sex") or "other", 1200)
    if profile.get("kcal_target"):
        kcal = int(profile["kcal_target"])
        notes = _age_notes(profile, own=True)
        if kcal < floor:
            notes.append(_("That is below {floor} kcal, the usual floor without medical supervision.").format(floor=floor))
        index = bmi(profile)
        if profile.get("goal") == "lose" and index is not None and bmi_plausible(index) and index < HEALTHY_BMI[0]:
            notes.append(_("At a BMI of {bmi} losing weight isn't advised: please talk to a doctor.").format(bmi=_index(index)))
        return Target(kcal, _("your target"), tuple(notes))
    missing = [f for f in ("weight_kg", "height_cm", "age", "sex") if not profile.get(f)]
    if missing:
        return Target(None, _missing(missing))
    if note := implausible_bmi_note(profile):
        return Target(None, _("I can't estimate it yet"), (note,))
    age, index, goal = int(profile["age"]), bmi(profile), profile.get("goal") or "maintain"
    notes: list[str] = []
    if goal == "lose" and index < HEALTHY_BMI[0]:
        notes.append(_("At a BMI of {bmi} losing weight isn't advised, so I took nothing off for “lose”: "
                       "please talk to a doctor.").format(bmi=_index(index)))
        goal = "maintain"
        notes += [note for note in _age_notes(profile, own=False) if note != str(OVER_65_LOSE)]
    else:
        notes += _age_notes(profile, own=False)
    bmr = 10 * float(profile["weight_kg"]) + 6.25 * float(profile["height_cm"]) - 5 * age
    bmr += SEX_CONSTANT[profile["sex"]]
    tdee = bmr * ACTIVITY_FACTORS.get(profile.get("activity") or "sedentary", 1.2)
    estimate = int(round(tdee + GOAL_ADJUSTMENT.get(goal, 0), -1))
    if estimate < floor:
        notes.append(_("The formula gives {estimate} kcal; I use {floor} kcal instead, the usual floor "
                       "without medical supervision.").format(estimate=estimate, floor=floor))
        estimate = floor
    return Target(estimate, _("estimated from your profile"), tuple(notes))


def bmi_line(profile: dict) -> str | None:
    """"BMI 22.9 (healthy range 18.5–25)", a question when implausible, None without the figures."""
    index = bmi(profile)
    if index is None:
        return None
    if not bmi_plausible(index):
        return implausible_bmi_note(profile)
    if index < HEALTHY_BMI[0]:
        line = _("BMI {bmi} (below the usual healthy range of {low}–{high}; it says nothing of muscle or build)")
    elif index >= HEALTHY_BMI[1]:
        line = _("BMI {bmi} (above the usual healthy range of {low}–{high}; it says nothing of muscle or build)")
    else:
        line = _("BMI {bmi} (within the usual healthy range of {low}–{high}; it says nothing of muscle or build)")
    return line.format(bmi=_index(index), low=_n(HEALTHY_BMI[0]), high=_n(HEALTHY_BMI[1]))
