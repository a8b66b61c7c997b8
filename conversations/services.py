"""Writes to the conversation."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from caching.api import outbox_pending_sql, scheduled_keys

from .cleaning import clean_text
from .models import Message, OutgoingMessage, ProcessedUpdate
from .selectors import history_row
from .signals import history_appended, message_created, message_keys


def message_save(
    *, user_id: int, role: str, content: str, helpful: bool = True, telegram_message_id: int | None = None
) -> Message:
    return Message.objects.create(
        user_id=user_id,
        role=role,
        content=clean_text(content),
        helpful=helpful,
        telegram_message_id=telegram_message_id,
    )


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    helpful: bool = True
    telegram_message_id: int | None = None
    created_at: datetime | None = None  # default: now


def messages_save(*, user_id: int, messages: list[NewMessage]) -> list[Message]:
    """Store a turn's messages in one INSERT. bulk_create sends no post_save, so the history append
    the receiver would schedule is scheduled here (conversations/signals.py)."""
    now = timezone.now()
    rows = [Message(user_id=user_id, role=m.role, content=clean_text(m.content), helpful=m.helpful,
                    telegram_message_id=m.telegram_message_id, created_at=m.created_at or now) for m in messages]
    Message.objects.bulk_create(rows)
    for row in rows:
        assert row.pk is not None, "the database must return the ids of bulk-inserted rows"
        message_created(row)
    return rows


def turn_finish(*, update_id: int, user_id: int, messages: list[NewMessage], response: dict) -> None:
    """The end of a turn: store its messages and, on the update's claimed row, its reply and the
    cache keys it scheduled (caching.consistency.commit_buffer.journal). On PostgreSQL one statement — the UPDATE
    rides in a WITH ahead of the INSERT — written out here because the ORM cannot combine them;
    elsewhere (SQLite) bulk_create and an UPDATE.

    The keys are stored before the messages' appends are scheduled (the INSERT returns their ids),
    so the history key they will schedule is added to them here."""
    keys = sorted({*scheduled_keys(), *message_keys(user_id=user_id, helpful=[m.helpful for m in messages])})
    if connection.vendor != "postgresql" or not messages:
        if messages:
            messages_save(user_id=user_id, messages=messages)
        ProcessedUpdate.objects.filter(pk=update_id).update(response=response, cache_keys=keys)
        return
    # The rows' values as Message would hold them, without making Message instances (nothing reads them).
    now = timezone.now()
    rows = [(str(m.role), clean_text(m.content), m.helpful, m.created_at or now) for m in messages]
    values: list[object] = [json.dumps(response), json.dumps(keys), update_id]
    for (role, content, helpful, created_at), m in zip(rows, messages):
        values += [user_id, role, content, helpful, m.telegram_message_id, created_at]
    with connection.cursor() as cursor:
        cursor.execute(_finish_sql(len(rows)), values)
        ids = [pk for (pk,) in cursor.fetchall()]
    assert len(ids) == len(rows), "the database must return the ids of the inserted rows"
    for (role, content, helpful, created_at), pk in zip(rows, ids):  # RETURNING gives them in VALUES order
        if helpful:  # as message_created: unhelpful replies are not part of the history the bot reads
            history_appended(user_id=user_id, row=history_row(id=pk, role=role, content=content, created_at=created_at))


@functools.cache
def _finish_sql(messages: int) -> str:
    quote = connection.ops.quote_name
    columns = ("user_id", "role", "content", "helpful", "telegram_message_id", "created_at")
    row = f"({', '.join(['%s'] * len(columns))})"
    return (
        f"WITH reply AS (UPDATE {quote(ProcessedUpdate._meta.db_table)} SET {quote('response')} = %s, "
        f"{quote('cache_keys')} = %s WHERE {quote('update_id')} = %s) "
        f"INSERT INTO {quote(Message._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([row] * messages)} RETURNING {quote('id')}"
    )


@dataclass(frozen=True)
class Claim:
    outbox_pending: bool  # cache invalidations are waiting (caching.api.bot_turn's claimed())
    recent_turns: int  # the user's turns claimed in the last `window` seconds before this one, at most limit + 1


def update_claim(*, update_id: int, user_id: int, window: float = 60.0, limit: int = 20) -> Claim | None:
    """Claim a Telegram update for processing, inside the turn's transaction. None when it was
    claimed before (a redelivery).

    One statement: INSERT … ON CONFLICT DO NOTHING needs no savepoint (a failed INSERT would abort
    the transaction), and the outbox check and the count of the user's recent turns (for the turn
    rate, over the user/processed_at index, stopping at limit + 1 rows) ride along in RETURNING.
    On PostgreSQL a redelivery that arrives while the first delivery is still running waits here for
    it to commit.
    """
    processed_at = timezone.now()
    since = processed_at - timedelta(seconds=window)
    if connection.vendor != "postgresql":  # psycopg takes an aware datetime as it is (tests/conversations/test_services.py)
        field = ProcessedUpdate._meta.get_field("processed_at")
        processed_at, since = field.get_db_prep_save(processed_at, connection), field.get_db_prep_save(since, connection)
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), [update_id, user_id, processed_at, user_id, since, update_id, limit + 1])
        row = cursor.fetchone()
    return None if row is None else Claim(outbox_pending=bool(row[0]), recent_turns=int(row[1]))


@functools.cache
def _claim_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(ProcessedUpdate._meta.db_table)
    columns = ("update_id", "user_id", "response", "cache_keys", "processed_at")
    # update_id <> this one: SQLite's RETURNING, unlike PostgreSQL's, sees the row just inserted.
    recent = (f"(SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {quote('user_id')} = %s "
              f"AND {quote('processed_at')} > %s AND {quote('update_id')} <> %s LIMIT %s) AS recent)")
    # The empty reply and keys as literals: the JSON fields' adapters cost more than the rest of it.
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES (%s, %s, '{{}}', '[]', %s) "
        f"ON CONFLICT ({quote('update_id')}) DO NOTHING RETURNING {outbox_pending_sql()}, {recent}"
    )


# The reply stored on a claimed photo update while its model call runs outside the transaction
# (conversations/updates.py): a redelivery that finds it waits for the real one.
IN_PROGRESS = {"in_progress": "photo"}


def update_in_progress(*, update_id: int) -> None:
    """The claimed update's turn goes on outside the transaction (a photo's model call)."""
    ProcessedUpdate.objects.filter(pk=update_id).update(response=IN_PROGRESS)


def update_resume(*, update_id: int) -> bool | None:
    """Take up a photo turn again, in its second transaction: lock its update row (a redelivery that
    gave up waiting may finish it meanwhile) and learn whether invalidations are pending, as the claim
    does. None when the update is no longer in progress: someone else finished it."""
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('response')}, {outbox_pending_sql()} FROM "
                       f"{quote(ProcessedUpdate._meta.db_table)} WHERE {quote('update_id')} = %s{lock}", [update_id])
        row = cursor.fetchone()
    if row is None:
        return None
    response = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return bool(row[1]) if response == IN_PROGRESS else None


def conversation_prune(*, before: datetime, dry_run: bool = False, batch_size: int = 1000) -> dict[str, int]:
    """Delete processed updates, messages and finished outgoing messages older than `before`; return
    how many of each.

    In batches, each its own transaction: a big first run neither holds locks for long nor loads
    every row at once. Messages go through the ORM's delete, so their receivers drop each touched
    user's cached history on commit, as any other deletion does."""
    updates = ProcessedUpdate.objects.filter(processed_at__lt=before)
    messages = Message.objects.filter(created_at__lt=before)
    # Messages the bot started, once finished (sent, failed, dropped): queued ones are still owed.
    outgoing = OutgoingMessage.objects.filter(created_at__lt=before).exclude(
        status__in=[OutgoingMessage.Status.QUEUED, OutgoingMessage.Status.CLAIMED, OutgoingMessage.Status.SENDING])
    if dry_run:
        return {"processed_updates": updates.count(), "messages": messages.count(), "outgoing": outgoing.count()}
    counts = {"processed_updates": 0, "messages": 0, "outgoing": 0}
    for name, queryset in (("processed_updates", updates), ("messages", messages), ("outgoing", outgoing)):
        while True:
            with transaction.atomic():
                batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
                if not batch:
                    break
                queryset.model.objects.filter(pk__in=batch).delete()
            counts[name] += len(batch)
    return counts
