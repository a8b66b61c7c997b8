from django.db import models


class PendingInvalidation(models.Model):
    """A cache invalidation Redis could not be told about (it was down when the write committed).

    Kept in the database — the source of truth — so it survives the process, and replayed before
    the cache is trusted again (caching.consistency.outbox).
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
