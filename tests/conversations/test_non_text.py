"""Every message kind gets a reply: photos, stickers and voice get "I read text only" once per
conversation; edited messages are acknowledged (not re-processed)."""

import datetime

import pytest
from django.utils import timezone

from conversations.bot import EDITED, TEXT_ONLY
from conversations.models import Message
from memory.models import Profile
from memory.services import CONVERSATION_GAP
from nutrition.models import FoodEntry
from tests.telegram import make_update

pytestmark = pytest.mark.django_db


def _media(kind: str, payload: object, *, user_id: int = 42, chat_type: str = "private") -> dict:
    update = make_update("", user_id=user_id)
    message = update["message"]
    del message["text"]
    message[kind] = payload
    message["chat"]["type"] = chat_type
    return update


def _edited(text: str) -> dict:
    update = make_update(text)
    update["edited_message"] = update.pop("message")
    update["edited_message"]["chat"]["type"] = "private"
    update["edited_message"]["edit_date"] = 1_700_000_100
    return update


@pytest.mark.parametrize(("kind", "payload"), [
    ("photo", [{"file_id": "p", "width": 90, "height": 90}]),
    ("sticker", {"file_id": "s", "emoji": "👍"}),
    ("voice", {"file_id": "v", "duration": 3}),
    ("document", {"file_id": "d"}),
    ("location", {"latitude": 52.5, "longitude": 13.4}),
])
def test_non_text_messages_get_one_line(bot, kind, payload):
    body = bot.post(_media(kind, payload)).json()
    assert body == {"method": "sendMessage", "chat_id": 42, "text": TEXT_ONLY, "parse_mode": "HTML"}
    assert Profile.objects.filter(pk=42).exists()


def test_a_burst_of_stickers_gets_one_notice_per_conversation(bot, monkeypatch):
    sticker = {"file_id": "s"}
    answers = [bot.post(_media("sticker", sticker)).json() for _ in range(4)]
    assert [a.get("text") for a in answers] == [TEXT_ONLY, None, None, None]
    assert answers[1:] == [{}, {}, {}]
    # Text in between does not reset it; a new conversation (hours later) does.
    bot.say("hello")
    assert bot.post(_media("photo", [{"file_id": "p"}])).json() == {}
    later = timezone.now() + CONVERSATION_GAP + datetime.timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert bot.post(_media("sticker", sticker)).json()["text"] == TEXT_ONLY


def test_each_user_gets_their_own_notice(bot):
    assert bot.post(_media("sticker", {"file_id": "s"}, user_id=1)).json()["text"] == TEXT_ONLY
    assert bot.post(_media("sticker", {"file_id": "s"}, user_id=2)).json()["text"] == TEXT_ONLY


def test_group_chats_stay_quiet_about_media(bot):
    assert bot.post(_media("photo", [{"file_id": "p"}], chat_type="group")).json() == {}


def test_edited_message_is_acknowledged_not_reprocessed(bot):
    bot.say("/log 2 eggs")
    body = bot.post(_edited("/log 3 eggs")).json()
    assert body["text"] == EDITED and body["chat_id"] == 42
    assert FoodEntry.objects.count() == 1  # not logged again
    assert Message.objects.filter(role="user").count() == 1
