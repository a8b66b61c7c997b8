"""Writes to user memory. Every save names its update_fields so cache receivers can narrow."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from caching.api import invalidate_on_commit, kept_warm, user_memory_key
from healthagent.errors import ApplicationError

from .fields import canonical_field, parse_field
from .models import Preference, Profile, WeightEntry
from .selectors import WEIGHTS_KEPT, _profile_dict, is_pending, load_user_memory, weight_row

PREFERENCE_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
PREFERENCE_VALUE_MAX = 200


def profile_ensure(*, user_id: int, name: str = "", username: str = "", known: dict | None = None,
                   app_language: str | None = None) -> None:
    """Create the profile on first contact; keep Telegram's name/username (and, when given, the
    language of the user's app) current.

    `known` is the cached profile dict, when there is one: with it, an unchanged user costs no query.
    """
    name, username = name[:100], username[:64]
    app_language = None if app_language is None else app_language[:8]
    if (known is not None and known.get("username") == username and (known.get("name") or not name)
            and (app_language is None or known.get("app_language") == app_language)):
        return
    defaults = {"name": name, "username": username, "app_language": app_language or ""}
    profile, created = Profile.objects.get_or_create(pk=user_id, defaults=defaults)
    if created:
        # A new user's next turn should hit: fill the cache once the profile is committed (after
        # the receiver's invalidation of the cached "no profile", which was registered first).
        transaction.on_commit(lambda: load_user_memory(user_id=user_id))
        return
    changed = []
    if profile.username != username:
        profile.username = username
        changed.append("username")
    if name and not profile.name:
        profile.name = name
        changed.append("name")
    if app_language is not None and profile.app_language != app_language:
        profile.app_language = app_language
        changed.append("app_language")
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])


def _kept_warm(user_id: int) -> AbstractContextManager[list[Callable[[dict | None], dict | None]]]:
    """Around one write to user memory: the cached memory is kept warm across it (caching.api.kept_warm)."""
    return kept_warm(user_memory_key(user_id), timeout=settings.CACHE_TTL_USER_MEMORY)


def profile_update(*, user_id: int, field: str, raw_value: str) -> Profile:
    """Set one profile field from what the user typed (ApplicationError says what is wrong)."""
    field = canonical_field(field)
    return profile_update_many(user_id=user_id, values={field: parse_field(field, raw_value)})


def profile_parse(fields: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """({field: value} of what is valid, {field: why not} of the rest), for values as typed."""
    values, errors = {}, {}
    for field, raw in fields.items():
        try:
            values[canonical_field(field)] = parse_field(field, raw)
        except ApplicationError as error:
            errors[canonical_field(field)] = error.message
    return values, errors


def profile_update_many(*, user_id: int, values: dict[str, object]) -> Profile:
    """Save parsed values (profile_parse) in one UPDATE. A new weight is also kept in the weight
    history, dated now: the profile's weight is always its latest entry."""
    with transaction.atomic(), _kept_warm(user_id) as changes:
        profile = Profile.objects.select_for_update().get(pk=user_id)
        for field, value in values.items():
            setattr(profile, field, value)
        profile.full_clean(validate_unique=False, validate_constraints=False)
        profile.save(update_fields=[*values, "updated_at"])
        # The whole profile as locked and saved; the preferences as the cached entry has them.
        changes.append(lambda memory: {**memory, "profile": _profile_dict(profile)})
        if values.get("weight_kg") is not None:
            entry = WeightEntry.objects.create(user_id=user_id, kg=values["weight_kg"])
            row = weight_row(entry)
            changes.append(lambda memory: {**memory, "weights": [row, *memory["weights"]][:WEIGHTS_KEPT]})
    return profile


def pending_set(*, user_id: int, pending: dict | None) -> None:
    """Keep (or with None, drop) the question the bot waits an answer to; see Profile.pending."""
    if not is_pending(pending):
        raise ValueError(f"not a pending question: {pending!r}")
    with transaction.atomic(), _kept_warm(user_id) as changes:
        if Profile.objects.filter(pk=user_id).update(pending=pending) != 1:
            return
        # update() sends no post_save, so the invalidation its receiver would schedule is scheduled
        # here; the change below turns it into a replacement, keeping the entry warm.
        invalidate_on_commit(user_memory_key(user_id))
        changes.append(lambda memory: {**memory, "pending": pending})


def preference_set(*, user_id: int, key: str, value: str) -> Preference:
    key = key.strip().lower()
    value = " ".join(value.split())
    if not PREFERENCE_KEY.fullmatch(key):
        raise ApplicationError(
            _("A preference key is 1-32 lowercase letters, digits or _, starting with a letter, e.g. /pref diet "
              "vegetarian")
        )
    if not value:
        raise ApplicationError(_("Give a value, e.g. /pref {key} vegetarian (or /pref {key} - to remove it)").format(key=key))
    if len(value) > PREFERENCE_VALUE_MAX:
        raise ApplicationError(_("A preference value can be at most {max} characters.").format(max=PREFERENCE_VALUE_MAX))
    with _kept_warm(user_id) as changes:
        preference, created = Preference.objects.get_or_create(user_id=user_id, key=key, defaults={"value": value})
        if not created and preference.value != value:
            preference.value = value
            preference.save(update_fields=["value", "updated_at"])
        changes.append(lambda memory: {**memory, "preferences": {**memory["preferences"], key: value}})
    return preference


def preference_delete(*, user_id: int, key: str) -> bool:
    key = key.strip().lower()
    preference = Preference.objects.filter(user_id=user_id, key=key).first()
    if preference is None:
        return False
    with _kept_warm(user_id) as changes:
        preference.delete()
        changes.append(lambda memory: {**memory, "preferences": {k: v for k, v in memory["preferences"].items()
                                                                 if k != key}})
    return True


def user_forget(*, user_id: int) -> None:
    """Delete everything the bot keeps about a user (messages and diary go by cascade)."""
    from conversations.models import ProcessedUpdate

    with transaction.atomic():
        Profile.objects.filter(pk=user_id).delete()
        # The update ids stay to keep exactly-once; nothing on them may point back to the person: the
        # replies kept for redelivery hold personal data, and user_id (or a key naming it) next to
        # processed_at would still say when they wrote.
        ProcessedUpdate.objects.filter(user_id=user_id).update(user_id=None, response={}, cache_keys=[])


# A conversation, for "say it once": messages with less than this between them.
CONVERSATION_GAP = datetime.timedelta(hours=6)


def text_only_notice_due(*, user_id: int) -> bool:
    """True (and noted) when the bot should say it reads text only: not said in this conversation.

    One conditional UPDATE, so two photos arriving together get one notice. The field is not part
    of the cached user memory, so no invalidation is needed (and none is skipped).
    """
    now = timezone.now()
    due = Q(text_only_notice_at__isnull=True) | Q(text_only_notice_at__lt=now - CONVERSATION_GAP)
    return Profile.objects.filter(Q(pk=user_id) & due).update(text_only_notice_at=now) == 1


def profile_mark_blocked(*, user_id: int, blocked: bool) -> None:
    """Telegram said the user blocked the bot (or unblocked it): messages the bot starts stop (or go
    on). blocked_at is not part of the cached memory, so no invalidation (the receiver narrows)."""
    Profile.objects.filter(pk=user_id).update(blocked_at=timezone.now() if blocked else None)


def quiet_hours_set(*, user_id: int, start: int | None, end: int | None) -> None:
    """Quiet hours as minutes after local midnight (None, None: none). Not in the cached memory."""
    Profile.objects.filter(pk=user_id).update(quiet_start=start, quiet_end=end)
