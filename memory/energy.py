"""Daily energy target from the profile (Mifflin-St Jeor), used when the user set no kcal_target."""

from __future__ import annotations

ACTIVITY_FACTORS = {"sedentary": 1.2, "light": 1.375, "moderate": 1.55, "active": 1.725, "very_active": 1.9}
GOAL_ADJUSTMENT = {"lose": -500, "maintain": 0, "gain": 300}
# Mifflin-St Jeor's sex constant; "other" takes the midpoint rather than guessing.
SEX_CONSTANT = {"male": 5, "female": -161, "other": -78}


def kcal_target(profile: dict) -> tuple[int | None, str]:
    """(kcal per day, where it came from); (None, what is missing) when it cannot be worked out."""
    if profile.get("kcal_target"):
        return int(profile["kcal_target"]), "your target"
    needed = ("weight_kg", "height_cm", "age", "sex")
    missing = [f for f in needed if not profile.get(f)]
    if missing:
        return None, "set " + ", ".join(missing) + " (or kcal_target) to get a daily target"
    bmr = 10 * float(profile["weight_kg"]) + 6.25 * float(profile["height_cm"]) - 5 * int(profile["age"])
    bmr += SEX_CONSTANT[profile["sex"]]
    tdee = bmr * ACTIVITY_FACTORS.get(profile.get("activity") or "sedentary", 1.2)
    target = tdee + GOAL_ADJUSTMENT.get(profile.get("goal") or "maintain", 0)
    return max(1200, int(round(target, -1))), "estimated from your profile"


def bmi(profile: dict) -> float | None:
    if not (profile.get("weight_kg") and profile.get("height_cm")):
        return None
    metres = float(profile["height_cm"]) / 100
    return round(float(profile["weight_kg"]) / (metres * metres), 1)
