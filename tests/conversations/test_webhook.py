"""The webhook's HTTP contract (ARCHITECTURE.md §4) and its bad inputs."""

import pytest
from django.db import OperationalError

from conversations.models import Message, ProcessedUpdate
from memory.models import Profile

from tests.telegram import make_update

pytestmark = pytest.mark.django_db


def test_text_message_gets_a_reply_in_the_response_body(bot):
    response = bot.post(make_update("/start", user_id=5))
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "sendMessage"
    assert body["chat_id"] == 5
    assert body["parse_mode"] == "HTML"
    assert "Ada" in body["text"]
    assert Message.objects.filter(user_id=5).count() == 2


@pytest.mark.parametrize("secret", [False, "wrong", "test-secret_12", "test-secret_1234", "ü"])
def test_missing_or_wrong_secret_is_403_and_stores_nothing(bot, secret):
    response = bot.post(make_update("/start"), secret=secret)
    assert response.status_code == 403
    assert Message.objects.count() == 0
    assert ProcessedUpdate.objects.count() == 0
    assert Profile.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_are_405(client, webhook_secret, method):
    response = getattr(client, method)("/telegram/webhook/", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=webhook_secret)
    assert response.status_code == 405


@pytest.mark.parametrize("body", ["{", "[]", '"x"', "42", "null", '{"message": {}}', '{"update_id": "1"}',
                                  '{"update_id": true}', '{"update_id": 1.5}', "\xff\xfe"])
def test_malformed_bodies_are_400(bot, body):
    response = bot.post(body, raw=True)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert ProcessedUpdate.objects.count() == 0


def test_body_over_256_kib_is_413(bot):
    update = make_update("x" * (300 * 1024))
    response = bot.post(update)
    assert response.status_code == 413
    assert Message.objects.count() == 0


@pytest.mark.parametrize("update", [
    {"update_id": 1, "edited_message": {"message_id": 1, "text": "hi", "chat": {"id": 1}, "from": {"id": 1}}},
    {"update_id": 2, "callback_query": {"id": "x", "from": {"id": 1}}},
    {"update_id": 3, "message": {"message_id": 1, "sticker": {"file_id": "s"}, "chat": {"id": 1}, "from": {"id": 1}}},
    {"update_id": 4, "message": {"message_id": 1, "chat": {"id": 1}, "from": {"id": 1}}},
    {"update_id": 5, "message": {"text": "hi", "chat": {"id": 1}}},
    {"update_id": 6, "message": {"text": "hi", "chat": {"id": 1}, "from": {"id": 1, "is_bot": True}}},
    {"update_id": 7, "message": "hello"},
])
def test_updates_the_bot_does_not_handle_get_200_empty(bot, update):
    # None of these is from a person in a private chat; there, media and edits get a one-line
    # answer instead (tests/conversations/test_non_text.py).
    response = bot.post(update)
    assert response.status_code == 200
    assert response.json() == {}
    assert Message.objects.count() == 0


def test_duplicate_update_is_processed_once_and_answered_the_same(bot):
    update = make_update("/pref diet vegan", update_id=777)
    replies = [bot.post(update).json() for _ in range(5)]
    assert all(r == replies[0] for r in replies)
    assert "vegan" in replies[0]["text"]
    assert Message.objects.filter(role="user").count() == 1
    assert Message.objects.filter(role="assistant").count() == 1
    assert ProcessedUpdate.objects.count() == 1


@pytest.mark.parametrize("text", [
    "x" * 4096,
    "🍌🍎 I ate 🍕 " * 50,
    "<script>alert(1)</script>",
    "'; DROP TABLE conversations_message; --",
    "hello\x00world",
    "/food <b>banana</b>",
    "/set name <i>Eve</i> & co",
])
def test_hostile_text_gets_an_escaped_reply_within_limits(bot, text):
    reply = bot.say(text)
    assert len(reply) <= 4096
    assert "<script>" not in reply and "<i>Eve" not in reply and "<b>banana</b>" not in reply
    assert "\x00" not in reply
    assert Message.objects.filter(role="user").count() == 1
    stored = Message.objects.get(role="user").content
    assert "\x00" not in stored and len(stored) == len(text)


def test_database_unavailable_is_503_and_nothing_is_lost(bot, monkeypatch):
    def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("conversations.updates.update_claim", unavailable)
    response = bot.post(make_update("/start", update_id=9001))
    assert response.status_code == 503
    monkeypatch.undo()
    response = bot.post(make_update("/start", update_id=9001))  # Telegram's retry
    assert response.status_code == 200
    assert ProcessedUpdate.objects.filter(pk=9001).count() == 1


def test_json_response_text_escapes_user_name(bot):
    reply = bot.say("/start", first_name="<b>Mallory</b>")
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in reply


@pytest.mark.django_db(transaction=True)  # the cache is filled on commit
def test_a_profile_the_cache_knows_but_the_database_lost_is_made_again_not_a_500(bot):
    """A database restored or reset behind the cache's back: the cached profile spares the turn its
    query, the messages' foreign key then fails, and the turn runs once more from the database."""
    from django.db import connection

    assert bot.post(make_update("/start", user_id=8)).status_code == 200
    assert bot.post(make_update("hello", user_id=8)).status_code == 200  # the memory entry is warm
    with connection.cursor() as cursor:  # not through the ORM: no signal tells the cache
        for table in (Message._meta.db_table, ProcessedUpdate._meta.db_table, Profile._meta.db_table):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
    response = bot.post(make_update("/profile", user_id=8))
    assert response.status_code == 200
    assert "Your profile" in response.json()["text"]
    assert Profile.objects.filter(pk=8).exists()
    assert Message.objects.filter(user_id=8).count() == 2
