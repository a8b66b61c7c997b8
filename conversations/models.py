from django.db import models
from django.utils import timezone

from .replies import to_plain


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    # No separate FK index: message_user_recent leads with user.
    user = models.ForeignKey(
        "memory.Profile", on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    # False for replies where the bot did not understand; those are kept out of the history it reads.
    helpful = models.BooleanField(default=True)

    class Meta:
        indexes = [
            # "Latest N for a user". INCLUDE makes it covering for role/helpful on PostgreSQL (other
            # databases ignore it). content is deliberately not included: a B-tree entry is capped
            # at 2704 bytes and Telegram texts reach 4096 characters, so a covering index on
            # content would reject long messages.
            models.Index(
                fields=["user", "-created_at"], include=["role", "helpful"], name="message_user_recent"
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:  # bot replies are Telegram HTML: shown as text
        return f"{self.role}: {to_plain(self.content)[:50]}"


class ProcessedUpdate(models.Model):
    """A Telegram update_id already handled: the database is the source of truth for exactly-once.

    The reply is kept so a redelivery (Telegram resends when it did not get our answer) gets the
    same reply instead of a second run of the command.
    """

    update_id = models.BigIntegerField(primary_key=True)
    # Whose turn it was, while it matters: the per-user turn rate counts these rows (the index below),
    # and /forget sets it to NULL.
    user_id = models.BigIntegerField(null=True, blank=True)
    response = models.JSONField(default=dict, blank=True)
    # The cache keys the turn invalidated or appended to on commit. A process killed between the
    # COMMIT and those Redis calls gets no answer to Telegram, which redelivers the update: the
    # redelivery applies them (as invalidations) before answering.
    cache_keys = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["user_id", "processed_at"], name="processedupdate_user_recent"),
            # The turns of the last REDIS_REPLAY_WINDOW seconds, whose cache keys a Redis that lost
            # acknowledged writes gets replayed (caching.api.replay_source).
            models.Index(fields=["processed_at"], name="processedupdate_processed_at"),
        ]

    def __str__(self) -> str:
        return str(self.update_id)


class PollingOffset(models.Model):
    """The next getUpdates offset of `manage.py runbot`, per bot: a restart goes on from here."""

    bot_id = models.BigIntegerField(primary_key=True)
    offset = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"bot {self.bot_id}: offset {self.offset}"


class OutgoingMessage(models.Model):
    """A message the bot decided to send on its own (a reminder, a summary, a chart, a file),
    written in the transaction that decided it and delivered by a worker (conversations/delivery/).

    Exactly once, as far as Telegram allows (it has no idempotency key; docs/ARCHITECTURE.md §9):
    a worker *claims* a row with a lease, then marks it *sending* — committed — right before the
    request. A worker that dies holding a claim lets the lease run out and another one sends it; a
    row left *sending* may have reached Telegram and is never sent again (it ends failed, "uncertain").
    """

    class Kind(models.TextChoices):
        TEXT = "text"  # sendMessage: text (Telegram HTML)
        PHOTO = "photo"  # sendPhoto: file (PNG/JPEG bytes), text as the caption
        DOCUMENT = "document"  # sendDocument: file with filename, text as the caption

    class Status(models.TextChoices):
        QUEUED = "queued"  # waiting for due_at and a worker
        CLAIMED = "claimed"  # a worker holds it until lease_until; nothing sent yet
        SENDING = "sending"  # the request may be on its way: never sent again
        SENT = "sent"
        FAILED = "failed"  # Telegram refused it, the user blocked the bot, retries ran out, or uncertain
        DROPPED = "dropped"  # stale when a worker got to it (after expires_at): not sent

    # No separate FK index: outgoing_user leads with user. /forget deletes these by cascade.
    user = models.ForeignKey("memory.Profile", on_delete=models.CASCADE, related_name="outgoing", db_index=False)
    chat_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(blank=True)  # the message, or the caption of a photo/document
    file = models.BinaryField(null=True, blank=True)
    filename = models.CharField(max_length=100, blank=True)
    # What decided it ("reminder", "summary", "chart", "export"): a label for operators and metrics.
    origin = models.CharField(max_length=20, default="other")
    # One message per decision: e.g. "reminder:12:2026-12-03T12:00Z". A second enqueue of the same
    # decision (two schedulers, a retried task) collides here and is ignored.
    dedupe_key = models.CharField(max_length=120, unique=True, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    due_at = models.DateTimeField(default=timezone.now)  # not before; moved on by backoff and retry_after
    expires_at = models.DateTimeField(null=True, blank=True)  # not after: dropped as stale
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=64, blank=True)  # who holds (or last held) the claim
    error = models.CharField(max_length=300, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The workers' claim: due rows of a status, oldest first.
            models.Index(fields=["status", "due_at"], name="outgoing_status_due"),
            models.Index(fields=["user", "status"], name="outgoing_user"),
        ]

    def __str__(self) -> str:
        return f"{self.origin} to {self.chat_id} ({self.status})"


class Reminder(models.Model):
    """A reminder or the evening summary, in the user's time zone (conversations/reminders/)."""

    class Kind(models.TextChoices):
        TEXT = "text"
        SUMMARY = "summary"

    class Repeat(models.TextChoices):
        ONCE = "once"
        DAILY = "daily"
        INTERVAL = "interval"  # every `every_minutes` between window_start and window_end

    user = models.ForeignKey("memory.Profile", on_delete=models.CASCADE, related_name="reminders", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    text = models.CharField(max_length=200, blank=True)
    repeat = models.CharField(max_length=10, choices=Repeat.choices, default=Repeat.ONCE)
    # Local times as minutes after midnight in the user's zone.
    at_minute = models.PositiveSmallIntegerField(null=True, blank=True)  # once / daily
    every_minutes = models.PositiveSmallIntegerField(null=True, blank=True)  # interval
    window_start = models.PositiveSmallIntegerField(null=True, blank=True)
    window_end = models.PositiveSmallIntegerField(null=True, blank=True)
    # The next occurrence (UTC); null once a one-off has fired or the reminder was stopped.
    next_fire_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["next_fire_at"], name="reminder_due", condition=models.Q(active=True)),
            models.Index(fields=["user", "created_at"], name="reminder_user"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.repeat} for {self.user_id}"
