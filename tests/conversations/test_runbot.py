"""manage.py runbot (long polling) and manage.py telegram_webhook, against a fake Bot API server."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conversations.botapi import BotAPI
from conversations.models import Message, PollingOffset, ProcessedUpdate
from conversations.polling import Poller
from tests.telegram_api import BOT, TOKEN, FakeBotAPI

pytestmark = pytest.mark.django_db

CONVERSATION = [
    ("/start", "Poll"),
    ("/set weight_kg 70", "70"),
    ("/set height_cm 175", "175"),
    ("/profile", "70"),
    ("/pref diet vegetarian", "vegetarian"),
    ("/prefs", "vegetarian"),
    ("/food banana", "Bananas"),
    ("/log 120 g banana", "Logged 120 g"),
    ("/today", "kcal"),
    ("/history 3", "Last 3 messages"),
]


@pytest.fixture
def telegram(settings, webhook_secret):
    server = FakeBotAPI()
    settings.TELEGRAM_API_URL = server.url
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.NUTRITION_PROVIDER = "sample"
    yield server
    server.close()


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_runbot_holds_a_ten_turn_conversation_through_the_turn_code(telegram):
    updates = [telegram.queue(text) for text, _ in CONVERSATION]
    out = run("runbot", "--until-idle", "--poll-timeout", "0")
    assert "Stopped after 10 update(s)" in out
    assert len(telegram.sent) == 10
    for (text, expected), sent in zip(CONVERSATION, telegram.sent):
        assert sent["chat_id"] == 77 and sent["parse_mode"] == "HTML"
        assert expected in sent["text"], (text, sent["text"])
    assert ProcessedUpdate.objects.count() == 10
    assert Message.objects.filter(user_id=77, role="user").count() == 10
    last = updates[-1]["update_id"]
    assert PollingOffset.objects.get(bot_id=BOT["id"]).offset == last + 1
    assert telegram.offsets() == [0, last + 1]  # the second poll confirms all ten, and finds nothing


def test_the_offset_survives_a_restart_and_old_updates_are_not_processed_again(telegram):
    old = [telegram.queue(text) for text in ("/start", "/profile")]
    run("runbot", "--until-idle", "--poll-timeout", "0")
    assert len(telegram.sent) == 2

    # A server that lost its confirmations hands the old updates out again, with one new one.
    telegram.updates = [*old, telegram.queue("/prefs")]
    telegram.calls.clear()
    out = run("runbot", "--until-idle", "--poll-timeout", "0")
    assert f"from offset {old[-1]['update_id'] + 1}" in out
    assert telegram.offsets()[0] == old[-1]["update_id"] + 1
    assert len(telegram.sent) == 3 and "preferences" in telegram.sent[-1]["text"].lower()
    assert ProcessedUpdate.objects.count() == 3


def test_errors_back_off_exponentially_and_honour_retry_after(telegram):
    telegram.fail("getUpdates", 502)
    telegram.fail("getUpdates", 502)
    telegram.fail("getUpdates", 429, "Too Many Requests: retry after 7", retry_after=7)
    telegram.fail("getUpdates", 502)
    telegram.queue("/start")
    waits: list[float] = []
    poller = Poller(BotAPI(), poll_timeout=0, sleep=waits.append)
    poller.start()
    poller.run(until_idle=True)
    assert waits == [1.0, 2.0, 7, 8.0]
    assert len(telegram.sent) == 1 and poller.handled == 1

    telegram.fail("getUpdates", 502)
    poller.run(until_idle=True)
    assert waits[-1] == 1.0  # a successful poll starts the back-off from the beginning again


def test_a_reply_telegram_could_not_take_is_sent_again_but_the_turn_runs_once(telegram):
    telegram.queue("/set weight_kg 80")
    telegram.fail("sendMessage", 502)
    waits: list[float] = []
    poller = Poller(BotAPI(), poll_timeout=0, sleep=waits.append)
    poller.start()
    poller.run(until_idle=True)
    assert waits == [1.0]
    assert len(telegram.sent) == 1 and "80" in telegram.sent[0]["text"]
    assert Message.objects.filter(user_id=77, role="user").count() == 1  # processed once, sent on retry


def test_runbot_stops_with_advice_while_a_webhook_is_set(telegram):
    telegram.fail("getUpdates", 409, "Conflict: can't use getUpdates method while webhook is active")
    with pytest.raises(CommandError, match="telegram_webhook delete"):
        run("runbot", "--until-idle", "--poll-timeout", "0")


def test_a_refused_token_is_named_and_never_printed(telegram, settings):
    settings.TELEGRAM_BOT_TOKEN = "999:wrong-token-zzzzzzzz"
    with pytest.raises(CommandError) as caught:
        run("runbot", "--until-idle")
    assert "TELEGRAM_BOT_TOKEN" in str(caught.value) and "wrong-token" not in str(caught.value)


def test_webhook_set_info_and_delete(telegram, webhook_secret):
    out = run("telegram_webhook", "set", "https://bot.example.com/telegram/webhook/", "--drop-pending-updates")
    method, params = telegram.calls[0]
    assert method == "setWebhook"
    assert params == {"url": "https://bot.example.com/telegram/webhook/", "secret_token": webhook_secret,
                      "allowed_updates": ["message"], "drop_pending_updates": True}
    assert "Webhook set" in out and "https://bot.example.com/telegram/webhook/" in out

    info = run("telegram_webhook", "info")
    assert "pending updates       0" in info
    assert "allowed updates       message" in info
    assert "last error            2023-11-14 22:13:20 UTC: Wrong response from the webhook: 503" in info

    assert "Webhook deleted" in run("telegram_webhook", "delete")
    assert telegram.calls[-1] == ("deleteWebhook", {"drop_pending_updates": False})
    assert "(none: no webhook" in run("telegram_webhook", "info")


def test_webhook_set_defaults_to_the_bot_domain(telegram, settings):
    settings.BOT_DOMAIN = ""
    with pytest.raises(CommandError, match="BOT_DOMAIN"):
        run("telegram_webhook", "set")
    settings.BOT_DOMAIN = "bot.example.org"
    run("telegram_webhook", "set")
    assert telegram.calls[0][1]["url"] == "https://bot.example.org/telegram/webhook/"


def test_webhook_set_refuses_plain_http_and_a_missing_secret(telegram, settings):
    with pytest.raises(CommandError, match="https://"):
        run("telegram_webhook", "set", "http://bot.example.com/telegram/webhook/")
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        run("telegram_webhook", "set", "https://bot.example.com/telegram/webhook/")
    assert telegram.calls == []


def test_no_token_says_what_to_set(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN is not set"):
        run("telegram_webhook", "info")
