"""Which chats the bot serves (conversations/chats.py) and what it refuses before reading anything
(conversations/limits.py): groups get at most a pointer and leave nothing stored; Telegram's own
senders, automatic forwards, posts on behalf of a chat and bots get nothing; /forget leaves no row
pointing back to the person; a flood is answered "slow down" once; an oversized text is refused."""

import datetime

import pytest
from django.utils import timezone

from conversations.chats import POINTER, TELEGRAM_SERVICE_ID
from conversations.limits import MAX_TEXT_CHARS, TOO_LONG
from conversations.models import Message, ProcessedUpdate
from memory.models import Profile
from tests.telegram import make_update

pytestmark = pytest.mark.django_db

GROUP_A, GROUP_B = -100_111, -100_222


def _in_chat(text, *, chat_id, chat_type="supergroup", user_id=42, **message_fields):
    update = make_update(text, user_id=user_id)
    update["message"]["chat"] = {"id": chat_id, "type": chat_type, "title": "A group"}
    update["message"].update(message_fields)
    return update


def _nothing_stored():
    return (ProcessedUpdate.objects.count(), Profile.objects.count(), Message.objects.count()) == (0, 0, 0)


# --- groups and channels -----------------------------------------------------------------------------

@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
@pytest.mark.parametrize("command", ["/profile", "/history", "/today", "/start@healthagent_bot", "/log 2 eggs"])
def test_a_command_in_a_group_gets_the_pointer_and_nothing_is_stored(bot, chat_type, command):
    body = bot.post(_in_chat(command, chat_id=GROUP_A, chat_type=chat_type)).json()
    assert body == {"method": "sendMessage", "chat_id": GROUP_A, "text": POINTER, "parse_mode": "HTML"}
    assert _nothing_stored()


def test_a_known_users_profile_is_not_posted_to_a_group(bot):
    bot.say("/set weight_kg 70")
    bot.say("/set age 41")
    body = bot.post(_in_chat("/profile", chat_id=GROUP_A)).json()
    assert body["text"] == POINTER and "70" not in body["text"] and "41" not in body["text"]
    assert ProcessedUpdate.objects.count() == 2 and Message.objects.count() == 4  # the two private turns only


def test_talk_in_a_group_that_does_not_address_the_bot_gets_nothing(bot):
    """Without privacy mode the bot sees every message of a group: it stays out of the conversation."""
    for text in ("I had 2 eggs", "my weight is 80 kg", "what did I say before?"):
        assert bot.post(_in_chat(text, chat_id=GROUP_A)).json() == {}
    assert _nothing_stored()


def test_media_and_edits_in_a_group_get_nothing(bot):
    update = _in_chat("", chat_id=GROUP_A)
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "p"}]
    assert bot.post(update).json() == {}
    edited = _in_chat("/profile", chat_id=GROUP_A)
    edited["edited_message"] = edited.pop("message")
    assert bot.post(edited).json() == {}
    assert _nothing_stored()


def test_a_channel_post_gets_nothing(bot):
    update = make_update("/start")
    post = update.pop("message")
    post["chat"] = {"id": -100_333, "type": "channel", "title": "News"}
    del post["from"]
    post["sender_chat"] = post["chat"]
    update["channel_post"] = post
    assert bot.post(update).json() == {}
    assert _nothing_stored()


def test_channel_posts_forwarded_into_two_groups_do_not_pool_into_one_user(bot):
    """Telegram's 777000 is the sender of every channel post auto-forwarded into a discussion group:
    served, it would be one "user" whose /history any such group could read."""
    for chat_id, text in ((GROUP_A, "/log 500 g chocolate"), (GROUP_B, "my weight is 120 kg"),
                          (GROUP_A, "Secret plans of channel A"), (GROUP_B, "/start")):
        forward = _in_chat(text, chat_id=chat_id, user_id=TELEGRAM_SERVICE_ID, is_automatic_forward=True,
                           sender_chat={"id": chat_id - 1, "type": "channel", "title": "Channel"})
        forward["message"]["from"]["first_name"] = "Telegram"
        assert bot.post(forward).json() == {}
    # Even without the forward markers, 777000 is not a person.
    assert bot.post(_in_chat("/history", chat_id=GROUP_B, user_id=TELEGRAM_SERVICE_ID)).json() == {}
    assert _nothing_stored()
    assert not Profile.objects.filter(pk=TELEGRAM_SERVICE_ID).exists()
    # A person asking in the other group gets the pointer, not the channel's messages.
    body = bot.post(_in_chat("/history", chat_id=GROUP_B, user_id=7)).json()
    assert body["text"] == POINTER and "Secret" not in body["text"]


@pytest.mark.parametrize("marker", [
    {"is_automatic_forward": True},
    {"sender_chat": {"id": GROUP_A, "type": "supergroup", "title": "Anonymous admins"}},
])
def test_automatic_forwards_and_posts_on_behalf_of_a_chat_get_nothing(bot, marker):
    assert bot.post(_in_chat("/profile", chat_id=GROUP_A, **marker)).json() == {}
    private = make_update("/profile")
    private["message"].update(marker)
    assert bot.post(private).json() == {}
    assert _nothing_stored()


def test_a_bot_gets_nothing(bot):
    update = make_update("/start")
    update["message"]["from"]["is_bot"] = True
    assert bot.post(update).json() == {}
    assert bot.post(_in_chat("/start", chat_id=GROUP_A) | {}).json()["text"] == POINTER  # people still do
    assert _nothing_stored()


def test_a_private_chat_that_is_not_the_senders_is_refused(bot):
    """In a private chat chat.id is the person's id: an update saying otherwise would let one user
    write into another's profile and read it back in the chat it names."""
    bot.say("/set weight_kg 70", user_id=1)
    update = make_update("/profile", user_id=2)
    update["message"]["chat"]["id"] = 1
    assert bot.post(update).json() == {}
    sticker = make_update("", user_id=2)
    sticker["message"]["chat"]["id"] = 1
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "s"}
    assert bot.post(sticker).json() == {}
    assert not Profile.objects.filter(pk=2).exists()
    assert ProcessedUpdate.objects.count() == 1


# --- /forget -----------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)  # the keys are dropped on commit
def test_forget_leaves_no_row_tying_the_user_to_their_update_times(bot):
    bot.say("/set weight_kg 70")
    bot.say("/log 2 eggs")
    bot.say("/forget")
    forget = make_update("/forget yes")
    assert "Done" in bot.post(forget).json()["text"]
    rows = list(ProcessedUpdate.objects.values("user_id", "response", "cache_keys"))
    assert len(rows) == 4
    assert all(row["user_id"] is None and row["cache_keys"] == [] for row in rows)
    assert all("chat_id" not in row["response"] for row in rows)
    assert not any("42" in str(row) for row in rows)
    # A redelivery of /forget (its answer was lost) still says "Done", in the chat it came from.
    again = bot.post(forget).json()
    assert again["chat_id"] == 42 and "Done" in again["text"]
    assert ProcessedUpdate.objects.filter(user_id=42).count() == 0
    assert not Profile.objects.filter(pk=42).exists()


# --- the turn rate -----------------------------------------------------------------------------------

def test_a_flood_is_answered_slow_down_once_and_nothing_of_it_is_stored(bot, settings):
    settings.BOT_TURNS_PER_MINUTE = 3
    answers = [bot.post(make_update("hello")).json() for _ in range(6)]
    assert all("Slow down" not in a["text"] for a in answers[:3])
    assert "Slow down" in answers[3]["text"] and answers[3]["chat_id"] == 42
    assert answers[4:] == [{}, {}]
    assert Message.objects.filter(role="user").count() == 3
    assert ProcessedUpdate.objects.filter(user_id=42).count() == 6  # each claimed: exactly once still holds
    # Other users are not held up by one user's flood.
    assert "Slow down" not in bot.say("hello", user_id=43)


def test_the_turn_rate_counts_the_last_minute_only(bot, settings, monkeypatch):
    settings.BOT_TURNS_PER_MINUTE = 2
    for _ in range(3):
        bot.post(make_update("hello"))
    assert bot.post(make_update("hello")).json() == {}
    later = timezone.now() + datetime.timedelta(seconds=61)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert "Slow down" not in bot.say("hello")


def test_a_redelivered_slow_down_is_the_same_answer(bot, settings):
    settings.BOT_TURNS_PER_MINUTE = 1
    bot.say("hello")
    update = make_update("hello")
    first = bot.post(update).json()
    assert "Slow down" in first["text"]
    assert bot.post(update).json() == first


# --- sizes -------------------------------------------------------------------------------------------

def test_a_text_over_telegrams_limit_is_refused_with_a_reply_and_not_stored(bot):
    assert bot.say("x" * (MAX_TEXT_CHARS + 1)) == TOO_LONG
    assert Message.objects.count() == 0
    assert ProcessedUpdate.objects.get().response["text"] == TOO_LONG
    assert bot.say("x" * MAX_TEXT_CHARS) != TOO_LONG
    assert Message.objects.filter(role="user").count() == 1
