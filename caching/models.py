from django.db import models


class OutboxQuerySet(models.QuerySet):
    def pending(self) -> "OutboxQuerySet":
        """Rows Redis has not taken yet (the others are kept for the replay window)."""
        return self.filter(applied_at__isnull=True)


class PendingInvalidation(models.Model):
    """A cache invalidation Redis may not have (it was down when the write committed, or the write
    was not a bot turn: an intent, caching.consistency.outbox).

    Kept in the database — the source of truth — so it survives the process, and applied before
    the cache is trusted again (caching.consistency.outbox).
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once Redis took it. Applied rows are kept for REDIS_REPLAY_WINDOW seconds, then pruned: a
    # Redis that loses its last seconds gets them replayed (caching/consistency/replay.py).
    applied_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        indexes = [
            # The fence's check (`outbox.pending_sql()`, on every turn's claim) reads pending rows only.
            models.Index(fields=["id"], condition=models.Q(applied_at__isnull=True), name="pendinginvalidation_pending"),
            models.Index(fields=["applied_at"], name="pendinginvalidation_applied"),
        ]

    def __str__(self) -> str:
        return self.key


class ReplayedDataset(models.Model):
    """A Redis dataset (`run_id:replication id:db`) whose recent invalidations were replayed, or that
    was found empty (caching/consistency/replay.py). The marker in Redis says the same, but a FLUSHDB
    or an eviction can take it while the dataset lives on; this row outlives both, so a process that
    meets the dataset later does not replay the window again — correct, but every warm entry of the
    last minutes would be a miss."""

    dataset = models.CharField(max_length=200, primary_key=True)
    replayed_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.dataset
