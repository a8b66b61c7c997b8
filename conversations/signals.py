"""Keeping the cached history warm: a new message is appended on commit, any other change drops it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_delete, post_save

from caching.api import append_on_commit, conversation_history_key, invalidate_on_commit
from caching.api import enabled as cache_enabled
from caching.api import replay_source

from .models import Message, ProcessedUpdate
from .selectors import HISTORY_MAX, message_row

_CACHED_FIELDS = frozenset({"role", "content", "helpful", "created_at", "user", "user_id"})


def message_created(instance: Message, using: str = DEFAULT_DB_ALIAS) -> None:
    """A new message joins the cached history on commit. Also called by services that insert
    messages with bulk_create, which sends no post_save."""
    if instance.helpful:  # unhelpful replies are not part of the history the bot reads
        history_appended(user_id=instance.user_id, row=message_row(instance), using=using)


def history_appended(*, user_id: int, row: dict, using: str = DEFAULT_DB_ALIAS) -> None:
    """A new helpful message of `user_id` (its `history_row`) joins the cached history on commit: for
    services that insert messages without making Message instances (conversations.services.turn_finish)."""
    append_on_commit(conversation_history_key(user_id), row, max_items=HISTORY_MAX,
                     timeout=settings.CACHE_TTL_CONVERSATION, using=using)


def message_keys(*, user_id: int, helpful: list[bool]) -> list[str]:
    """The keys `message_created` schedules for new messages of `user_id` (their `helpful` flags)."""
    return [conversation_history_key(user_id)] if any(helpful) and cache_enabled() else []


def message_saved(sender, instance: Message, created: bool, update_fields=None, using=None, **kwargs) -> None:
    if created:
        message_created(instance, using=using or DEFAULT_DB_ALIAS)
    elif update_fields is None or _CACHED_FIELDS.intersection(update_fields):
        invalidate_on_commit(conversation_history_key(instance.user_id), using=using)


def message_deleted(sender, instance: Message, using=None, **kwargs) -> None:
    invalidate_on_commit(conversation_history_key(instance.user_id), using=using)


def turns_keys_since(since: datetime) -> Iterator[str]:
    """The cache keys of the turns processed since `since` (over the processed_at index): a Redis that
    lost acknowledged writes gets them replayed before it is read (caching.api.replay_source)."""
    rows = ProcessedUpdate.objects.filter(processed_at__gte=since).values_list("cache_keys", flat=True)
    for keys in rows.iterator(chunk_size=2000):
        yield from keys or ()


def connect() -> None:
    post_save.connect(message_saved, sender=Message, dispatch_uid="conversations.message_saved")
    post_delete.connect(message_deleted, sender=Message, dispatch_uid="conversations.message_deleted")
    replay_source(turns_keys_since)
