"""The outgoing queue in the database: enqueue, claim with a lease, mark sending, record the outcome.

The states (OutgoingMessage.Status) and who moves a row between them:

    queued ──claim──▶ claimed ──mark_sending (committed)──▶ sending ──answer──▶ sent / failed
       ▲                 │  lease ran out: claimable again          │  429, 5xx, no connection:
       └─────────────────┘  (nothing was sent)                      └──▶ queued, later (backoff)
                                                   lease ran out while sending ──▶ failed ("uncertain")

Every transition is a compare-and-set on (status, worker), so a worker that lost its lease (paused
past it, another worker took the row) changes nothing. The only committed step before the request
is `mark_sending`; a worker killed before it leaves the row to be sent by another, one killed after
it leaves a row nobody sends again.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ..models import OutgoingMessage

logger = logging.getLogger(__name__)
Status = OutgoingMessage.Status

MAX_ATTEMPTS = 6
BACKOFF_FIRST, BACKOFF_MAX = 5.0, 600.0


def claim_lease() -> datetime.timedelta:
    """claimed → sending: the rate wait fits well inside (OUTGOING_CLAIM_LEASE)."""
    return datetime.timedelta(seconds=settings.OUTGOING_CLAIM_LEASE)


def sending_lease() -> datetime.timedelta:
    """sending → uncertain: longer than any request's timeout (sender.py; OUTGOING_SENDING_LEASE)."""
    return datetime.timedelta(seconds=settings.OUTGOING_SENDING_LEASE)


def message_enqueue(*, user_id: int, chat_id: int, text: str = "", kind: str = OutgoingMessage.Kind.TEXT,
                    file: bytes | None = None, filename: str = "", origin: str = "other",
                    dedupe_key: str | None = None, due_at: datetime.datetime | None = None,
                    expires_at: datetime.datetime | None = None) -> OutgoingMessage | None:
    """Queue a message in the caller's transaction (it is sent only if that commits). None when the
    same `dedupe_key` was queued before: one message per decision however often it is decided."""
    if kind != OutgoingMessage.Kind.TEXT and not file:
        raise ValueError(f"a {kind} message needs a file")
    row = OutgoingMessage(user_id=user_id, chat_id=chat_id, kind=kind, text=text, file=file, filename=filename,
                          origin=origin, dedupe_key=dedupe_key, due_at=due_at or timezone.now(),
                          expires_at=expires_at)
    if dedupe_key is None:
        row.save(force_insert=True)
        return row
    try:
        with transaction.atomic():  # a savepoint: the collision must not abort the caller's transaction
            row.save(force_insert=True)
    except IntegrityError:
        logger.info("outgoing %s already queued; not queued again", dedupe_key)
        return None
    return row


def claim(*, worker: str, limit: int = 10, now: datetime.datetime | None = None,
          chat_id: int | None = None) -> list[OutgoingMessage]:
    """Up to `limit` due messages, claimed for `worker` until the lease runs out: queued ones whose
    time has come, and claimed ones whose worker let the lease run out (it never marked them
    sending, so nothing was sent). SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL: two workers never
    wait for, nor take, the same rows; SQLite takes its write lock at BEGIN (IMMEDIATE). `chat_id`:
    that chat's messages only (`manage.py chat` delivers its own user's)."""
    now = now or timezone.now()
    due = Q(status=Status.QUEUED, due_at__lte=now) | Q(status=Status.CLAIMED, lease_until__lt=now)
    if chat_id is not None:
        due &= Q(chat_id=chat_id)
    with transaction.atomic():
        ids = list(OutgoingMessage.objects.filter(due).order_by("due_at", "id")
                   .select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        OutgoingMessage.objects.filter(due, pk__in=ids).update(status=Status.CLAIMED, worker=worker,
                                                               lease_until=now + claim_lease())
    return list(OutgoingMessage.objects.filter(pk__in=ids, status=Status.CLAIMED, worker=worker)
                .select_related("user").order_by("due_at", "id"))


def mark_sending(message: OutgoingMessage, *, worker: str) -> bool:
    """The last step before the request, committed on its own: from here on the message is never
    sent again. False when the claim is no longer this worker's (then it must not send)."""
    now = timezone.now()
    with transaction.atomic():
        done = OutgoingMessage.objects.filter(pk=message.pk, status=Status.CLAIMED, worker=worker).update(
            status=Status.SENDING, lease_until=now + sending_lease(), attempts=F("attempts") + 1) == 1
    return done


def _finish(message: OutgoingMessage, *, worker: str, states: Iterable[str], **fields: object) -> bool:
    return OutgoingMessage.objects.filter(pk=message.pk, worker=worker, status__in=list(states)).update(**fields) == 1


def mark_sent(message: OutgoingMessage, *, worker: str, telegram_message_id: int | None) -> bool:
    # Also over a row the sweep called uncertain meanwhile: the answer came after all.
    # The file (a chart, an export) is not kept once Telegram has it: the database is no file store.
    return _finish(message, worker=worker, states=[Status.SENDING, Status.FAILED], status=Status.SENT,
                   sent_at=timezone.now(), telegram_message_id=telegram_message_id, error="", lease_until=None,
                   file=None)


def mark_failed(message: OutgoingMessage, *, worker: str, error: str) -> bool:
    return _finish(message, worker=worker, states=[Status.SENDING, Status.CLAIMED], status=Status.FAILED,
                   error=error[:300], lease_until=None)


def mark_dropped(message: OutgoingMessage, *, worker: str, error: str) -> bool:
    """Not sent, and it never will be (stale, or the user blocked the bot): from a claim only."""
    return _finish(message, worker=worker, states=[Status.CLAIMED], status=Status.DROPPED, error=error[:300],
                   lease_until=None)


def backoff(attempts: int) -> float:
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def retry_later(message: OutgoingMessage, *, worker: str, error: str, after: float | None = None,
                counts: bool = True) -> str:
    """Back to queued after a failure Telegram says (or the connection proves) was not a delivery:
    after `after` seconds (its retry_after) or the backoff. Out of attempts: failed. The new status."""
    attempts = (message.attempts + 1) if counts else message.attempts
    if counts and attempts >= MAX_ATTEMPTS:
        mark_failed(message, worker=worker, error=f"gave up after {attempts} attempts: {error}")
        return Status.FAILED
    wait = after if after is not None else backoff(attempts)
    _finish(message, worker=worker, states=[Status.SENDING, Status.CLAIMED], status=Status.QUEUED,
            due_at=timezone.now() + datetime.timedelta(seconds=wait), error=error[:300], lease_until=None,
            attempts=attempts)
    return Status.QUEUED


def release(messages: Iterable[OutgoingMessage], *, worker: str, after: float) -> None:
    """Claimed messages this worker will not send now (Telegram asked it to wait): queued again."""
    ids = [m.pk for m in messages]
    OutgoingMessage.objects.filter(pk__in=ids, worker=worker, status=Status.CLAIMED).update(
        status=Status.QUEUED, due_at=timezone.now() + datetime.timedelta(seconds=after), lease_until=None)


def sweep_uncertain(*, now: datetime.datetime | None = None) -> int:
    """Messages left `sending` past their lease: the worker died (or hung) after the request may
    have gone out. Never sent again — failed, uncertain — so a crash costs at most that message,
    never a duplicate. How many."""
    now = now or timezone.now()
    return OutgoingMessage.objects.filter(status=Status.SENDING, lease_until__lt=now).update(
        status=Status.FAILED, error="uncertain: the worker stopped while sending; it may have arrived, so it is "
                                    "not sent again", lease_until=None)


def drop_queued_for(*, user_id: int, reason: str) -> int:
    """The user's messages not yet sent (queued or claimed, never sending): dropped."""
    return OutgoingMessage.objects.filter(user_id=user_id, status__in=[Status.QUEUED, Status.CLAIMED]).update(
        status=Status.DROPPED, error=reason[:300], lease_until=None)


def counts_by_status() -> dict[str, int]:
    """{status: rows}: what operators watch (the admin, /metrics)."""
    return dict(OutgoingMessage.objects.order_by().values_list("status").annotate(n=Count("pk")))


def oldest_queued_age(*, now: datetime.datetime | None = None) -> float:
    """Seconds the oldest due, unsent message has waited (0 when none): delivery lag."""
    now = now or timezone.now()
    oldest = (OutgoingMessage.objects.filter(status__in=[Status.QUEUED, Status.CLAIMED], due_at__lte=now)
              .order_by("due_at").values_list("due_at", flat=True).first())
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
