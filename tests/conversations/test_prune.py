"""manage.py prune: old processed updates and messages go, the cached history follows on commit."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from conversations.models import Message, ProcessedUpdate
from conversations.selectors import get_conversation_history

pytestmark = pytest.mark.django_db(transaction=True)


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def test_prune_deletes_what_is_older_and_keeps_the_rest(bot):
    for text in ("/start", "/prefs", "/profile"):
        bot.say(text, user_id=5)
    bot.say("/start", user_id=6)
    old = timezone.now() - timedelta(days=40)
    oldest = list(Message.objects.filter(user_id=5).order_by("id").values_list("pk", flat=True)[:4])
    Message.objects.filter(pk__in=oldest).update(created_at=old)
    ProcessedUpdate.objects.filter(user_id=5).update(processed_at=old)
    assert len(get_conversation_history(user_id=5, limit=50)) == 6  # warm, and holding the old ones

    assert "Would delete 3 processed update(s) and 4 message(s)" in prune("--older-than", "30d", "--dry-run")
    assert Message.objects.count() == 8

    assert "Deleted 3 processed update(s) and 4 message(s)" in prune("--older-than", "30d")
    assert Message.objects.filter(user_id=5).count() == 2 and Message.objects.filter(user_id=6).count() == 2
    assert ProcessedUpdate.objects.count() == 1
    # The cached history was dropped on commit: no deleted message is served from it.
    history = get_conversation_history(user_id=5, limit=50)
    assert [m["id"] for m in history] == list(Message.objects.filter(user_id=5).order_by("id").values_list("pk", flat=True))


def test_prune_batches_and_counts_every_row(bot):
    for n in range(5):
        bot.say(f"/prefs {n}", user_id=7)
    Message.objects.update(created_at=timezone.now() - timedelta(days=3))
    from conversations.services import conversation_prune

    counts = conversation_prune(before=timezone.now() - timedelta(days=2), batch_size=3)
    assert counts["messages"] == 10 and Message.objects.count() == 0


@pytest.mark.parametrize("age", ["30", "d30", "30 days", "12h"])
def test_prune_refuses_a_bad_or_too_young_age(age):
    with pytest.raises(CommandError, match="--older-than"):
        prune("--older-than", age)


def test_prune_deletes_finished_outgoing_messages_and_keeps_the_ones_still_owed(bot):
    import datetime

    from django.utils import timezone

    from conversations.models import OutgoingMessage
    from conversations.services import conversation_prune
    from memory.models import Profile

    Profile.objects.create(pk=42)
    old = timezone.now() - datetime.timedelta(days=40)
    for status in ("sent", "failed", "dropped", "queued", "sending"):
        OutgoingMessage.objects.create(user_id=42, chat_id=42, text=status, status=status, created_at=old)
    OutgoingMessage.objects.create(user_id=42, chat_id=42, text="recent", status="sent")
    counts = conversation_prune(before=timezone.now() - datetime.timedelta(days=30))
    assert counts["outgoing"] == 3
    assert sorted(OutgoingMessage.objects.values_list("text", flat=True)) == ["queued", "recent", "sending"]
