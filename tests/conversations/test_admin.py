"""The admin shows bot replies as text, has no "View site" link to a 404, and lists runbot's offset."""

import pytest

from conversations.models import PollingOffset, ProcessedUpdate
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

REPLY = "<b>Today</b>: 1 entry &amp; 107 kcal · <i>Sample data</i>"


def test_bot_replies_are_shown_as_the_user_reads_them(admin_client):
    message = MessageFactory(role="assistant", content=REPLY)
    listing = admin_client.get("/admin/conversations/message/").content.decode()
    assert "Today: 1 entry &amp; 107 kcal · Sample data" in listing  # &amp; is the page's own escaping
    assert "&lt;b&gt;" not in listing
    page = admin_client.get(f"/admin/conversations/message/{message.pk}/change/").content.decode()
    assert "Today: 1 entry &amp; 107 kcal · Sample data" in page


def test_processed_updates_show_their_reply_as_text(admin_client):
    ProcessedUpdate.objects.create(update_id=9002, user_id=42, response={"method": "sendMessage", "text": REPLY})
    listing = admin_client.get("/admin/conversations/processedupdate/").content.decode()
    assert "Today: 1 entry &amp; 107 kcal" in listing and "&lt;b&gt;" not in listing


def test_no_view_site_link(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "View site" not in page
    assert 'href="/admin/cache/"' in page


def test_runbot_offsets_are_listed_read_only(admin_client):
    PollingOffset.objects.create(bot_id=123, offset=77)
    assert "77" in admin_client.get("/admin/conversations/pollingoffset/").content.decode()
    assert admin_client.post("/admin/conversations/pollingoffset/123/change/", {"offset": 1}).status_code == 403


def test_outgoing_messages_show_queued_sent_failed_with_counts(admin_client):
    from conversations.models import OutgoingMessage
    from memory.models import Profile

    Profile.objects.create(pk=42)
    for status in ("queued", "sent", "failed", "failed"):
        OutgoingMessage.objects.create(user_id=42, chat_id=42, text="<b>Hi</b>", status=status, origin="reminder",
                                       error="blocked: Forbidden" if status == "failed" else "")
    listing = admin_client.get("/admin/conversations/outgoingmessage/").content.decode()
    assert "Failed (2)" in listing and "Sent (1)" in listing and "Queued (1)" in listing
    assert "blocked: Forbidden" in listing
    failed = list(OutgoingMessage.objects.filter(status="failed").values_list("pk", flat=True))
    admin_client.post("/admin/conversations/outgoingmessage/",
                      {"action": "queue_again", "_selected_action": failed})
    assert OutgoingMessage.objects.filter(status="queued").count() == 3
