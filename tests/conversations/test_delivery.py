"""The outgoing queue against a fake Bot API, in one process: each answer Telegram can give taken as
conversations/delivery/worker.py says (sent; 429 waits retry_after; 403 blocks; 5xx backs off;
no answer after sending is never resent), photos and documents, the claim's lease."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conversations.botapi import BotAPI
from conversations.delivery import queue
from conversations.delivery.sender import BotAPISender
from conversations.delivery.worker import Worker
from conversations.models import OutgoingMessage
from memory.models import Profile
from tests.telegram_api import TOKEN, FakeBotAPI

pytestmark = pytest.mark.django_db
Status = OutgoingMessage.Status


@pytest.fixture
def api():
    server = FakeBotAPI()
    yield server
    server.close()


@pytest.fixture
def worker(api):
    sleeps: list[float] = []
    w = Worker(BotAPISender(BotAPI(TOKEN, api_url=api.url)), name="w1", per_second=1000, sleep=sleeps.append)
    w.sleeps = sleeps  # type: ignore[attr-defined]
    return w


def _queue(user_id: int = 42, text: str = "hello", **fields) -> OutgoingMessage:
    Profile.objects.get_or_create(pk=user_id)
    return queue.message_enqueue(user_id=user_id, chat_id=user_id, text=text, **fields)


def _status(message: OutgoingMessage) -> str:
    message.refresh_from_db()
    return message.status


def test_sent_once_with_telegrams_message_id(api, worker):
    message = _queue()
    assert worker.deliver_due() == {"sent": 1}
    assert worker.deliver_due() == {}
    assert [s["text"] for s in api.sent] == ["hello"]
    message.refresh_from_db()
    assert (message.status, message.telegram_message_id, message.attempts) == (Status.SENT, 1, 1)


def test_a_429_waits_retry_after_and_then_sends(api, worker):
    first, second = _queue(text="one"), _queue(text="two")
    api.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    before = timezone.now()
    assert worker.deliver_due() == {"rate_limited": 1}  # the pass stops: the rest waits too
    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Status.QUEUED
        assert message.due_at >= before + datetime.timedelta(seconds=7)
    assert first.attempts == 0  # flood control is no failed attempt
    assert worker.deliver_due() == {}  # not before retry_after
    OutgoingMessage.objects.update(due_at=timezone.now())
    assert worker.deliver_due() == {"sent": 2}
    assert sorted(s["text"] for s in api.sent) == ["one", "two"]


def test_a_403_marks_the_user_blocked_and_drops_their_queue(api, worker):
    first, later = _queue(text="one"), _queue(text="two", due_at=timezone.now() + datetime.timedelta(hours=1))
    other = _queue(user_id=43, text="other")
    api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert worker.deliver_due() == {"blocked": 1, "sent": 1}
    assert Profile.objects.get(pk=42).blocked_at is not None
    assert (_status(first), _status(later), _status(other)) == (Status.FAILED, Status.DROPPED, Status.SENT)
    assert [s["chat_id"] for s in api.sent] == [43]


def test_server_errors_back_off_then_give_up(api, worker):
    message = _queue()
    for _ in range(queue.MAX_ATTEMPTS):
        api.fail("sendMessage", 502, "Bad Gateway")
    waits = []
    for _ in range(1, queue.MAX_ATTEMPTS):
        assert worker.deliver_due() == {"retry": 1}
        message.refresh_from_db()
        waits.append(round((message.due_at - timezone.now()).total_seconds()))
        OutgoingMessage.objects.update(due_at=timezone.now())
    assert waits == [5, 10, 20, 40, 80]  # 5 s doubling
    assert worker.deliver_due() == {"failed": 1}
    message.refresh_from_db()
    assert message.status == Status.FAILED and "gave up after 6 attempts" in message.error
    assert api.sent == []


def test_no_connection_is_retried_but_no_answer_after_sending_is_never_resent(api, worker):
    message = _queue()
    worker.sender = BotAPISender(BotAPI(TOKEN, api_url="http://127.0.0.1:9"))  # nothing listens: never sent
    assert worker.deliver_due() == {"retry": 1}
    assert _status(message) == Status.QUEUED

    class Timeout:
        def send(self, message):
            from conversations.botapi import BotAPIError
            raise BotAPIError("sendMessage", "no answer (ReadTimeout)", maybe_sent=True)

    worker.sender = Timeout()
    OutgoingMessage.objects.update(due_at=timezone.now())
    assert worker.deliver_due() == {"uncertain": 1}
    assert _status(message) == Status.FAILED and "not sent again" in OutgoingMessage.objects.get().error


def test_a_refusal_fails_without_retrying(api, worker):
    message = _queue()
    api.fail("sendMessage", 400, "Bad Request: chat not found")
    assert worker.deliver_due() == {"failed": 1}
    assert _status(message) == Status.FAILED and "chat not found" in OutgoingMessage.objects.get().error


def test_photos_and_documents_go_as_uploads(api, worker):
    _queue(kind="photo", file=b"\x89PNG fake", filename="week.png", text="Your week")
    _queue(kind="document", file=b"day,kcal\n", filename="diary.csv")
    assert worker.deliver_due() == {"sent": 2}
    methods = [method for method, _ in api.calls]
    assert methods == ["sendPhoto", "sendDocument"]
    assert all(call["chat_id"] == "42" and call["multipart_bytes"] > 0 for _, call in api.calls)


def test_stale_messages_are_dropped_not_sent(api, worker):
    message = _queue(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert worker.deliver_due() == {"dropped": 1}
    assert _status(message) == Status.DROPPED and api.sent == []


def test_the_same_decision_is_queued_once():
    assert _queue(dedupe_key="reminder:1:x") is not None
    assert _queue(dedupe_key="reminder:1:x") is None
    assert OutgoingMessage.objects.count() == 1


def test_a_claim_whose_lease_ran_out_is_taken_over_and_the_old_holder_cannot_send(api, worker):
    message = _queue()
    [mine] = queue.claim(worker="dead")
    assert queue.claim(worker="w1") == []  # leased
    later = timezone.now() + queue.claim_lease() + datetime.timedelta(seconds=1)
    [taken] = queue.claim(worker="w1", now=later)
    assert taken.pk == message.pk
    assert queue.mark_sending(mine, worker="dead") is False  # the old holder lost it
    assert queue.mark_sending(taken, worker="w1") is True


def test_a_row_left_sending_is_failed_as_uncertain_never_resent(api, worker):
    message = _queue()
    [claimed] = queue.claim(worker="dead")
    assert queue.mark_sending(claimed, worker="dead")
    assert queue.sweep_uncertain(now=timezone.now() + queue.sending_lease() + datetime.timedelta(seconds=1)) == 1
    assert _status(message) == Status.FAILED
    assert worker.deliver_due() == {} and api.sent == []


def test_the_fleet_rate_paces_sends(api, worker):
    for n in range(5):
        _queue(text=f"m{n}")
    worker.per_second = 2
    clock = iter([100.1] * 3 + [101.2] * 3 + [102.3] * 3 + [103.4] * 3)
    import caching.ops.pacing as pacing

    original = pacing.send_slot
    pacing_calls = []

    def slot(*, per_second):
        now = next(clock)
        pacing_calls.append(now)
        return original(per_second=per_second, clock=lambda: now)

    import conversations.delivery.worker as worker_module

    worker_module.send_slot, saved = slot, worker_module.send_slot
    try:
        assert worker.deliver_due() == {"sent": 5}
    finally:
        worker_module.send_slot = saved
    assert len(api.sent) == 5 and len(worker.sleeps) >= 2  # waited for the next window twice


def test_the_celery_tasks_run_the_passes_and_leave_a_heartbeat(api, settings, tmp_path):
    from conversations import tasks
    from conversations.models import Reminder

    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, api.url
    settings.WORKER_HEARTBEAT_FILE = str(tmp_path / "alive")
    Profile.objects.create(pk=42)
    Reminder.objects.create(user_id=42, text="stretch", repeat="once", at_minute=0,
                            next_fire_at=timezone.now() - datetime.timedelta(seconds=1))
    assert tasks.fire_reminders() == {"queued": 1}  # fired, then delivered in the same pass
    assert [s["text"] for s in api.sent] == ["⏰ Reminder: stretch"]
    assert (tmp_path / "alive").exists()
    assert tasks.deliver_outgoing() == {}
