"""Cached reads of user memory: the profile and preferences the bot needs every turn."""

from __future__ import annotations

from django.conf import settings

from caching.keys import user_memory_key
from caching.readthrough import read_through

from .models import Preference, Profile

PROFILE_FIELDS = (
    "name", "username", "age", "sex", "height_cm", "weight_kg", "activity", "goal", "kcal_target", "tz",
)


def _profile_dict(profile: Profile) -> dict:
    data = {field: getattr(profile, field) for field in PROFILE_FIELDS}
    # JSON-native values only: the cache stores this dict as JSON.
    for field in ("height_cm", "weight_kg"):
        if data[field] is not None:
            data[field] = float(data[field])
    return data


def _load(user_id: int) -> dict | None:
    profile = Profile.objects.filter(pk=user_id).first()
    if profile is None:
        return None
    preferences = dict(Preference.objects.filter(user_id=user_id).values_list("key", "value"))
    return {"profile": _profile_dict(profile), "preferences": preferences}


def load_user_memory(*, user_id: int) -> dict | None:
    """{"profile": {...}, "preferences": {key: value}}, or None when the user has no profile.

    Cached for CACHE_TTL_USER_MEMORY ("no profile" too); memory/signals.py invalidates on commit.
    """
    return read_through(user_memory_key(user_id), lambda: _load(user_id), timeout=settings.CACHE_TTL_USER_MEMORY)
