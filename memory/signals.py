"""Cache invalidation for user memory: receivers only schedule invalidations, on commit."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from caching.api import PROGRESS_PERIODS, conversation_history_key, invalidate_on_commit, progress_key, user_memory_key

from .models import Preference, Profile, WeightEntry
from .selectors import PROFILE_FIELDS

_CACHED_PROFILE_FIELDS = frozenset({*PROFILE_FIELDS, "pending"})
_CACHED_PREFERENCE_FIELDS = frozenset({"key", "value", "user", "user_id"})


def _touches(update_fields, cached: frozenset) -> bool:
    return update_fields is None or bool(cached.intersection(update_fields))


def profile_saved(sender, instance: Profile, update_fields=None, using=None, **kwargs) -> None:
    if _touches(update_fields, _CACHED_PROFILE_FIELDS):
        invalidate_on_commit(user_memory_key(instance.pk), using=using)


def profile_deleted(sender, instance: Profile, using=None, **kwargs) -> None:
    invalidate_on_commit(user_memory_key(instance.pk), using=using)
    invalidate_on_commit(conversation_history_key(instance.pk), using=using)
    for period in PROGRESS_PERIODS:  # the charts of /week and /month draw the diary and weights
        invalidate_on_commit(progress_key(instance.pk, period), using=using)


def preference_changed(sender, instance: Preference, update_fields=None, using=None, **kwargs) -> None:
    if _touches(update_fields, _CACHED_PREFERENCE_FIELDS):
        invalidate_on_commit(user_memory_key(instance.user_id), using=using)


def weight_changed(sender, instance: WeightEntry, using=None, **kwargs) -> None:
    invalidate_on_commit(user_memory_key(instance.user_id), using=using)  # user memory holds the history


def connect() -> None:
    post_save.connect(profile_saved, sender=Profile, dispatch_uid="memory.profile_saved")
    post_delete.connect(profile_deleted, sender=Profile, dispatch_uid="memory.profile_deleted")
    post_save.connect(preference_changed, sender=Preference, dispatch_uid="memory.preference_saved")
    post_delete.connect(preference_changed, sender=Preference, dispatch_uid="memory.preference_deleted")
    post_save.connect(weight_changed, sender=WeightEntry, dispatch_uid="memory.weight_saved")
    post_delete.connect(weight_changed, sender=WeightEntry, dispatch_uid="memory.weight_deleted")
