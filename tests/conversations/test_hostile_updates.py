"""Update bodies any user (or anyone who knows the webhook secret) can send: each is answered 200,
a 4xx or a 503, never a 500 — Telegram would redeliver a 500 forever."""

import logging

import pytest

from conversations.models import Message, ProcessedUpdate
from memory.models import Profile
from tests.telegram import make_update

pytestmark = pytest.mark.django_db

BIGINT_MAX = 2**63 - 1
HISTORY_USAGE = "Usage: /history [n], n a whole number from 1 to 50"


# --- /history arguments: str.isdigit() accepts digits int() refuses, and long numbers ---------------
# (int()'s 4300-digit limit is out of reach now: texts over 4096 characters are refused before.)

@pytest.mark.parametrize("argument", ["²", "①", "٣", "1²", "9" * 4000, "0" * 4000 + "5"])
def test_history_argument_that_is_not_a_few_ascii_digits_gets_the_usage(bot, argument):
    bot.say("/start")
    assert HISTORY_USAGE in bot.say(f"/history {argument}")


def test_history_with_ascii_digits_still_works(bot):
    bot.say("/start")
    bot.say("hello")
    assert "Last 2 messages" in bot.say("/history 2")


# --- ids: every one is stored in a bigint column --------------------------------------------------

def _with(update, *, update_id=None, user_id=None, message_id=None):
    if update_id is not None:
        update["update_id"] = update_id
    if user_id is not None:  # a private chat: the chat is the person
        update["message"]["from"]["id"] = update["message"]["chat"]["id"] = user_id
    if message_id is not None:
        update["message"]["message_id"] = message_id
    return update


@pytest.mark.parametrize("field", ["update_id", "user_id", "message_id"])
@pytest.mark.parametrize("value", [BIGINT_MAX + 1, -(BIGINT_MAX + 2), 10**30])
def test_an_id_outside_bigint_is_answered_200_empty_and_logged(bot, caplog, field, value):
    update = _with(make_update("/start"), **{field: value})
    with caplog.at_level(logging.WARNING, logger="conversations.views"):
        response = bot.post(update)
    assert response.status_code == 200
    assert response.json() == {}
    assert ProcessedUpdate.objects.count() == 0
    assert Message.objects.count() == 0
    assert Profile.objects.count() == 0
    assert any("outside bigint" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("user_id", [BIGINT_MAX, -BIGINT_MAX - 1])
def test_ids_at_the_edges_of_bigint_are_handled(bot, user_id):
    update = _with(make_update("/start"), update_id=BIGINT_MAX, user_id=user_id, message_id=BIGINT_MAX)
    response = bot.post(update)
    assert response.status_code == 200
    assert response.json()["chat_id"] == user_id
    assert Profile.objects.filter(pk=user_id).exists()
    assert Message.objects.get(user_id=user_id, role="user").telegram_message_id == BIGINT_MAX


# --- names: NUL (PostgreSQL text refuses it) and lone surrogates (not encodable as UTF-8) -----------

@pytest.mark.parametrize("raw, stored", [
    ("A\x00da", "A\ufffdda"),
    ("\x00", "\ufffd"),
    ("A\ud800da", "A?da"),
    ("\udfff", "?"),
])
@pytest.mark.parametrize("field", ["first_name", "username"])
def test_nul_and_lone_surrogates_in_names_are_cleaned_like_message_text(bot, field, raw, stored):
    update = make_update("/profile", **{field: raw})
    response = bot.post(update)  # json.dumps writes "\u0000" / "\ud800": valid JSON Telegram could send
    assert response.status_code == 200
    assert response.json()["method"] == "sendMessage"
    profile = Profile.objects.get(pk=42)
    assert getattr(profile, "name" if field == "first_name" else "username") == stored


def test_names_that_are_not_strings_are_dropped(bot):
    update = make_update("/start")
    update["message"]["from"].update(first_name={"x": 1}, username=["y"])
    assert bot.post(update).status_code == 200
    profile = Profile.objects.get(pk=42)
    assert (profile.name, profile.username) == ("", "")


def test_over_long_names_are_cut_to_the_profile_lengths(bot):
    assert bot.post(make_update("/start", first_name="N" * 500, username="u" * 500)).status_code == 200
    profile = Profile.objects.get(pk=42)
    assert (len(profile.name), len(profile.username)) == (100, 64)


def test_nul_and_surrogates_in_the_message_text_are_cleaned(bot):
    assert "Hi Ada" in bot.say("hi \x00 \ud800 there")
    text = bot.say("what did I say before?")
    assert "Earlier you said: “hi \ufffd ? there”" in text


# --- nesting --------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "[" * 2000 + "]" * 2000,
    "[" * 100_000,
    '{"update_id": 1, "message": ' + "[" * 1000 + "]" * 1000 + "}",
    '{"update_id": 1, "x": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}",
])
def test_deeply_nested_bodies_are_400(bot, body):
    response = bot.post(body, raw=True)
    assert response.status_code == 400
    assert "nested deeper" in response.json()["error"]
    assert ProcessedUpdate.objects.count() == 0


def test_an_update_with_ordinary_nesting_is_handled(bot):
    update = make_update("/start")
    update["message"]["reply_to_message"] = {"message_id": 1, "chat": {"id": 42, "type": "private"},
                                             "entities": [{"type": "bold", "offset": 0, "length": 1,
                                                           "user": {"id": 1, "is_bot": False}}]}
    assert bot.post(update).status_code == 200


# --- redelivery -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["/forget yes", "/forget", "/start", "/history 2", "hello"])
def test_a_redelivered_update_gets_exactly_the_first_answer(bot, text):
    bot.say("/start")
    update = make_update(text)
    first = bot.post(update)
    again = bot.post(update)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["method"] == "sendMessage"


def test_a_redelivered_forget_says_done_and_does_not_recreate_the_user(bot):
    bot.say("/start")
    update = make_update("/forget yes")
    assert "Done" in bot.post(update).json()["text"]
    assert "Done" in bot.post(update).json()["text"]
    assert not Profile.objects.filter(pk=42).exists()


# --- user text comes back as the user wrote it ----------------------------------------------------

@pytest.mark.parametrize("said, shown", [
    ("I ate <3 apples and then 2>1 bananas", "I ate &lt;3 apples and then 2&gt;1 bananas"),
    ("&lt;tag&gt;", "&amp;lt;tag&amp;gt;"),
    ("<b>bold</b> & co", "&lt;b&gt;bold&lt;/b&gt; &amp; co"),
])
def test_what_did_i_say_before_returns_the_text_as_written(bot, said, shown):
    bot.say("/start")
    bot.say(said)
    assert f"Earlier you said: “{shown}”" in bot.say("what did I say before?")


@pytest.mark.parametrize("said, shown", [
    ("I ate <3 apples and then 2>1 bananas", "I ate &lt;3 apples and then 2&gt;1 bananas"),
    ("&lt;tag&gt;", "&amp;lt;tag&amp;gt;"),
])
def test_history_returns_the_users_text_as_written(bot, said, shown):
    bot.say("/start")
    bot.say(said)
    assert f"<b>You:</b> {shown}" in bot.say("/history 3")


# --- updates without text go through the same checks ---------------------------------------------

@pytest.mark.parametrize("field, value", [("user_id", BIGINT_MAX + 1), ("user_id", -(BIGINT_MAX + 2))])
@pytest.mark.parametrize("kind", ["message", "edited_message"])
def test_a_non_text_update_with_an_id_outside_bigint_is_answered_200_empty(bot, kind, field, value):
    update = _with(make_update("x"), **{field: value})
    message = update.pop("message")
    del message["text"]
    message["sticker"] = {"file_id": "s"}
    update[kind] = message
    response = bot.post(update)
    assert response.status_code == 200
    assert response.json() == {}
    assert Profile.objects.count() == 0


def test_a_sticker_from_a_user_with_a_nul_in_the_name_is_stored_cleaned(bot):
    update = make_update("x", first_name="A\x00\ud800")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "s"}
    assert bot.post(update).status_code == 200
    assert Profile.objects.get(pk=42).name == "A\ufffd?"
