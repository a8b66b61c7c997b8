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
