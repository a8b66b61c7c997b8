"""Cached reads of user memory: the profile and preferences the bot needs every turn."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from caching.api import read_through, user_memory_key

from .models import Preference, Profile, WeightEntry

PROFILE_FIELDS = (
    "name", "username", "age", "sex", "height_cm", "weight_kg", "activity", "goal", "kcal_target", "tz", "language",
    "app_language",
)


def _profile_dict(profile: Profile) -> dict:
    data = {field: getattr(profile, field) for field in PROFILE_FIELDS}
    # JSON-native values only: the cache stores this dict as JSON.
    for field in ("height_cm", "weight_kg"):
        if data[field] is not None:
            data[field] = float(data[field])
    return data


# The weights user memory holds: enough for /weight's list and its 7- and 30-day changes.
WEIGHTS_KEPT = 60


def weight_row(entry: WeightEntry) -> list:
    """[ISO time, kg] of one weight entry, as cached (JSON-native)."""
    return [entry.measured_at.isoformat(), float(entry.kg)]


def _load(user_id: int) -> dict | None:
    profile = Profile.objects.filter(pk=user_id).first()
    if profile is None:
        return None
    preferences = dict(Preference.objects.filter(user_id=user_id).values_list("key", "value"))
    weights = WeightEntry.objects.filter(user_id=user_id).order_by("-measured_at", "-id")[:WEIGHTS_KEPT]
    return {"profile": _profile_dict(profile), "preferences": preferences,
            "weights": [weight_row(entry) for entry in weights], "pending": profile.pending}


def _text(max_chars: int, choices: tuple[str, ...] | None = None) -> Callable[[object], bool]:
    allowed = frozenset(("", *choices)) if choices else None
    return lambda v: type(v) is str and len(v) <= max_chars and "\x00" not in v and (allowed is None or v in allowed)


def _number(low: float, high: float, *, whole: bool) -> Callable[[object], bool]:
    kinds = (int,) if whole else (int, float)
    return lambda v: v is None or (type(v) in kinds and isinstance(v, (int, float)) and low <= v <= high)


# What each cached profile field may hold: the model's types, lengths, choices and ranges, which the
# bot's arithmetic (BMI, energy target) and the replies rely on.
_PROFILE_CHECKS: dict[str, Callable[[object], bool]] = {
    "name": _text(100),
    "username": _text(64),
    "age": _number(13, 120, whole=True),
    "sex": _text(10, tuple(Profile.Sex.values)),
    "height_cm": _number(50, 272, whole=False),
    "weight_kg": _number(20, 400, whole=False),
    "activity": _text(12, tuple(Profile.Activity.values)),
    "goal": _text(10, tuple(Profile.Goal.values)),
    "kcal_target": _number(800, 10000, whole=True),
    "tz": _text(64),  # an unknown zone name is fine: the diary falls back to the default zone
    "language": _text(8, ("en", "de", "es")),
    "app_language": _text(8),
}
_PREFERENCE_KEY, _PREFERENCE_VALUE = _text(32), _text(200)


def _is_weights(value: object) -> bool:
    # Every hit of a user's memory checks each of up to 60 rows: the checks of _text(40) and
    # _number(20, 400, whole=False) written out, no function built or called per row.
    if type(value) is not list or len(value) > WEIGHTS_KEPT:
        return False
    for row in value:
        if type(row) is not list or len(row) != 2:
            return False
        when, kg = row
        if type(when) is not str or len(when) > 40 or "\x00" in when:
            return False
        if type(kg) is not float and type(kg) is not int or not 20 <= kg <= 400:
            return False
    return True


_PENDING_ITEM = {"said": _text(200), "query": _text(200), "to": _text(200), "addition": lambda v: type(v) is bool}
# A meal proposed from a photo (conversations/photos.py): what each item is read as ("180 g rice"),
# its food, and whether the user said the amount (a caption, a correction) or the photo estimated it.
_PHOTO_ITEM = {"text": _text(200), "food": _text(200), "said": lambda v: type(v) is bool}


def is_pending(value: object) -> bool:
    """None, or the question the bot waits an answer to: {"items": [item, …]} (at most 8), or a
    meal proposed from a photo: {"photo": [item, …]} (at most 8)."""
    if value is None:
        return True
    if type(value) is not dict or len(value) != 1:
        return False
    name, items = next(iter(value.items()))
    checks = {"items": _PENDING_ITEM, "photo": _PHOTO_ITEM}.get(name)
    if checks is None or type(items) is not list:
        return False
    return 1 <= len(items) <= 8 and all(
        type(item) is dict and item.keys() == checks.keys()
        and all(check(item[field]) for field, check in checks.items()) for item in items)


def is_user_memory(value: object) -> bool:
    """True when `value` has the shape `_load` returns: what a cached entry must be to be used."""
    if value is None:  # a cached "no profile"
        return True
    if type(value) is not dict or value.keys() != {"profile", "preferences", "weights", "pending"}:
        return False
    if type(value["profile"]) is not dict or type(value["preferences"]) is not dict:
        return False
    profile, preferences = value["profile"], value["preferences"]
    if profile.keys() != _PROFILE_CHECKS.keys():
        return False
    # Plain loops: this runs on every hit of the hottest entry (a generator per check costs more than the checks).
    for field, check in _PROFILE_CHECKS.items():
        if not check(profile[field]):
            return False
    for k, v in preferences.items():
        if not (_PREFERENCE_KEY(k) and _PREFERENCE_VALUE(v)):
            return False
    return _is_weights(value["weights"]) and is_pending(value["pending"])


def load_user_memory(*, user_id: int) -> dict | None:
    """{"profile": {...}, "preferences": {key: value}, "weights": [[ISO time, kg], …] newest first,
    "pending": the question waiting for an answer or None}, or None when the user has no profile.

    Cached for CACHE_TTL_USER_MEMORY ("no profile" too); memory/signals.py invalidates on commit.
    """
    return read_through(user_memory_key(user_id), lambda: _load(user_id), timeout=settings.CACHE_TTL_USER_MEMORY,
                        valid=is_user_memory)


def weights_all(*, user_id: int) -> list[tuple]:
    """Every weight entry of the user as (measured_at, kg), oldest first: what /export writes (user
    memory holds only the latest WEIGHTS_KEPT)."""
    return list(WeightEntry.objects.filter(user_id=user_id).order_by("measured_at", "id").values_list("measured_at", "kg"))


def quiet_hours(*, user_id: int) -> tuple[int, int] | None:
    """(start, end) in minutes after local midnight, or None. Read from the database: quiet hours
    are not part of the cached memory (only reminders use them)."""
    row = Profile.objects.filter(pk=user_id).values_list("quiet_start", "quiet_end").first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return int(row[0]), int(row[1])
