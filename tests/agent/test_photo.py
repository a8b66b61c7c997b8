"""A photo of a meal becomes a *proposed* entry (conversations/photos.py, agent/vision.py): the photo
fetched from a fake Bot API, the foods named by the fake vision model through its tool, nothing logged
until "yes". Counts only: diary rows, model calls, Bot API calls."""

from __future__ import annotations

import itertools
import threading
import zlib

import pytest
from django.db import connection

from conversations import photos, updates
from conversations.models import Message, ProcessedUpdate
from conversations.services import IN_PROGRESS
from memory.models import Preference, Profile
from nutrition.models import FoodEntry
from tests.agent.fakes import Scripted, calls, images, text, user_text
from tests.factories import ProfileFactory
from tests.telegram_api import TOKEN, FakeBotAPI

pytestmark = pytest.mark.django_db


def _segment(marker, data):
    return bytes([0xFF, marker]) + (len(data) + 2).to_bytes(2, "big") + data


def _jpeg(*extra):
    """A JPEG's structure: SOI, APP0 (JFIF), `extra` segments, a quantisation table, the scan, EOI."""
    return (b"\xff\xd8" + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00") + b"".join(extra)
            + _segment(0xDB, bytes(65)) + _segment(0xDA, bytes(6)) + bytes(range(255)) * 4 + b"\xff\xd9")


JPEG = _jpeg()
RICE_AND_CHICKEN = {"items": [{"food": "cooked white rice", "grams": 180}, {"food": "roasted chicken breast", "grams": 120}]}
TEXT_ONLY = "I read text only"
_ids = itertools.count(90_000)


@pytest.fixture
def ada(db):
    return ProfileFactory(telegram_id=42, name="Ada")


@pytest.fixture
def telegram(settings):
    server = FakeBotAPI()
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, server.url
    server.files["big"] = JPEG
    yield server
    server.close()


@pytest.fixture
def vision(fake_llm, telegram, settings):
    """The fake provider as a vision model naming rice and chicken; the fake Bot API serving a JPEG."""
    settings.LLM_VISION_MODEL = "fake-vision"
    fake_llm.responder = lambda request: calls(("report_foods", RICE_AND_CHICKEN))
    return fake_llm


def photo_update(*, caption=None, sizes=None, update_id=None, document=None, user_id=42):
    message = {"message_id": 8, "date": 1_700_000_000, "chat": {"id": user_id, "type": "private"},
               "from": {"id": user_id, "is_bot": False, "first_name": "Ada", "username": "ada"}}
    if document is not None:
        message["document"] = document
    else:
        message["photo"] = sizes if sizes is not None else [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
            {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": len(JPEG)}]
    if caption is not None:
        message["caption"] = caption
    return {"update_id": next(_ids) if update_id is None else update_id, "message": message}


def send(bot, update):
    response = bot.post(update)
    assert response.status_code == 200, response.content
    return response.json()


def diary_rows():
    return FoodEntry.objects.filter(user_id=42).count()


def test_a_photo_is_proposed_and_nothing_is_logged_until_yes(bot, ada, vision, telegram):
    answer = send(bot, photo_update())["text"]
    assert "estimates from the photo" in answer and "180 g" in answer and "120 g" in answer and "yes" in answer
    assert diary_rows() == 0
    assert len(vision.requests) == 1
    request = vision.requests[0]
    assert request["model"] == "fake-vision" and images(request) == [JPEG]  # the largest size, as sent
    assert [m for m, _ in telegram.calls] == ["getFile", "download"]
    assert telegram.calls[0][1]["file_id"] == "big"
    assert Profile.objects.get(pk=42).pending == {"photo": [
        {"text": "180 g cooked white rice", "food": "cooked white rice", "said": False},
        {"text": "120 g roasted chicken breast", "food": "roasted chicken breast", "said": False}]}

    logged = bot.say("yes")
    entries = list(FoodEntry.objects.filter(user_id=42).order_by("id"))
    assert [(e.grams, e.description.split(",")[0]) for e in entries] == [(180, "Rice"), (120, "Chicken")]
    assert "Logged" in logged
    assert Profile.objects.get(pk=42).pending is None
    assert bot.say("yes") and diary_rows() == 2  # the proposal is gone: a second "yes" logs nothing
    assert len(vision.requests) == 1 + 1  # that "yes" went to the agent as free text; no photo call


def test_no_logs_nothing(bot, ada, vision):
    send(bot, photo_update())
    assert "nothing from the photo logged" in bot.say("no")
    assert diary_rows() == 0 and Profile.objects.get(pk=42).pending is None


def test_a_correction_changes_the_proposal_and_asks_again(bot, ada, vision):
    send(bot, photo_update())
    answer = bot.say("the rice was 150 g")
    assert "150 g" in answer and "180 g" not in answer and "yes" in answer
    assert diary_rows() == 0
    bot.say("yes")
    assert sorted(FoodEntry.objects.filter(user_id=42).values_list("grams", flat=True)) == [120, 150]


def test_a_correction_that_leaves_no_estimate_logs(bot, ada, vision):
    vision.responder = lambda request: calls(("report_foods", {"items": [{"food": "banana", "grams": 130}]}))
    send(bot, photo_update())
    answer = bot.say("200 g")  # the one item's amount, in the user's words: nothing left to ask
    assert "Logged" in answer
    assert list(FoodEntry.objects.filter(user_id=42).values_list("grams", flat=True)) == [200]


def test_any_other_message_drops_the_proposal(bot, ada, vision):
    send(bot, photo_update())
    bot.say("/today")
    assert Profile.objects.get(pk=42).pending is None
    bot.say("yes")
    assert diary_rows() == 0


def test_the_caption_amount_wins_and_is_sent(bot, ada, vision):
    answer = send(bot, photo_update(caption="200 g of rice"))["text"]
    assert "200 g, 260 kcal (your amount)" in answer and answer.count("(estimate)") == 1
    assert user_text(vision.requests[0]) == "200 g of rice"
    bot.say("yes")
    assert sorted(FoodEntry.objects.filter(user_id=42).values_list("grams", flat=True)) == [120, 200]


def test_confirmation_goes_through_the_refusals(bot, ada, vision):
    vision.responder = lambda request: calls(("report_foods", {"items": [
        {"food": "cooked white rice", "grams": 9000}, {"food": "unobtainium stew", "grams": 100},
        {"food": "broccoli", "grams": 80}]}))
    answer = send(bot, photo_update())["text"]
    assert answer.count("Left out") == 2  # the 5 kg cap and an unknown food are not proposed
    bot.say("yes")
    assert list(FoodEntry.objects.filter(user_id=42).values_list("grams", flat=True)) == [80]


def test_without_a_vision_model_photos_get_text_only_and_no_model_call(bot, ada, fake_llm, telegram, settings):
    assert settings.LLM_VISION_MODEL == ""
    assert TEXT_ONLY in send(bot, photo_update())["text"]
    assert send(bot, photo_update()) == {}  # once per conversation, as before
    assert fake_llm.requests == [] and telegram.calls == []


def test_ai_off_photos_get_text_only_and_no_model_call(bot, ada, vision, telegram):
    Preference.objects.create(user_id=42, key="ai", value="off")
    assert TEXT_ONLY in send(bot, photo_update())["text"]
    assert vision.requests == [] and telegram.calls == []


@pytest.mark.parametrize("failure", [
    Scripted(500, b'{"error": {"message": "boom"}}'),
    Scripted(200, b'{"not": "a completion"}'),
    text("I see rice."),  # no tool call
    calls(("report_foods", '{"items": [{"food": "rice"}]}')),  # malformed arguments
    calls(("report_foods", {"items": []})),  # no food seen
])
def test_each_model_failure_asks_for_words(bot, ada, vision, failure):
    vision.responder = lambda request: failure
    answer = send(bot, photo_update())["text"]
    assert "in words" in answer
    assert diary_rows() == 0 and Profile.objects.get(pk=42).pending is None


def test_timeout_budget_and_breaker_ask_for_words(bot, ada, vision, settings):
    settings.LLM_TIMEOUT, settings.LLM_BREAKER_FAILURES = 0.2, 1
    vision.responder = lambda request: Scripted(200, b"{}", delay=1.0)
    assert "in words" in send(bot, photo_update())["text"]  # timeout: the breaker opens
    assert "in words" in send(bot, photo_update())["text"]  # breaker open: no call
    assert len(vision.requests) == 1
    from agent import provider
    provider.breaker.failures, provider.breaker.opened_at = 0, None
    settings.LLM_DAILY_TOKENS = 0
    assert "in words" in send(bot, photo_update())["text"]  # budget spent: no call
    assert len(vision.requests) == 1


def test_a_redelivered_photo_gets_the_stored_reply_and_one_model_call(bot, ada, vision, telegram):
    update = photo_update()
    first = send(bot, update)
    assert send(bot, update) == first
    assert len(vision.requests) == 1 and [m for m, _ in telegram.calls].count("getFile") == 1
    assert diary_rows() == 0


def test_too_large_and_not_an_image_get_a_clear_reply(bot, ada, vision, telegram, settings):
    settings.LLM_VISION_MAX_BYTES = 10_000
    sizes = [{"file_id": "huge", "file_unique_id": "h", "width": 4000, "height": 3000, "file_size": 20_000}]
    assert "too large" in send(bot, photo_update(sizes=sizes))["text"]
    # Telegram did not say the size: the download stops at the cap.
    telegram.files["unsized"] = JPEG * 20
    sizes = [{"file_id": "unsized", "file_unique_id": "u", "width": 4000, "height": 3000}]
    assert "too large" in send(bot, photo_update(sizes=sizes))["text"]
    telegram.files["text"] = b"just some text, not an image"
    sizes = [{"file_id": "text", "file_unique_id": "t", "width": 10, "height": 10, "file_size": 28}]
    assert "couldn't read that image" in send(bot, photo_update(sizes=sizes))["text"]
    document = {"file_id": "pdf", "file_unique_id": "p", "mime_type": "application/pdf", "file_size": 100}
    assert "not at this kind of file" in send(bot, photo_update(document=document))["text"]
    assert vision.requests == [] and diary_rows() == 0


def test_the_bot_api_failing_asks_for_words(bot, ada, vision, telegram):
    telegram.fail("getFile", 502)
    assert "in words" in send(bot, photo_update())["text"]
    assert vision.requests == []


def test_the_fetch_and_the_model_call_run_outside_the_turn_transaction(bot, ada, vision, monkeypatch):
    depth = len(connection.atomic_blocks)  # the test's own transaction
    seen = []
    look = photos.look

    def recording(**kwargs):
        seen.append(len(connection.atomic_blocks))
        return look(**kwargs)

    monkeypatch.setattr(photos, "look", recording)
    send(bot, photo_update())
    assert seen == [depth]
    assert len(vision.requests) == 1


def test_the_reply_is_in_the_users_language(bot, ada, vision):
    update = photo_update()
    update["message"]["from"]["language_code"] = "de"
    answer = send(bot, update)["text"]
    assert "Schätzungen nach dem Foto" in answer and answer.count("(geschätzt)") == 2
    assert ProcessedUpdate.objects.get(pk=update["update_id"]).response["text"] == answer
    assert diary_rows() == 0
    bot.say("ja", language_code="de")
    assert diary_rows() == 2


@pytest.mark.django_db(transaction=True)  # two deliveries, each with its own connection and commits
def test_a_redelivery_while_the_model_runs_waits_for_the_first_reply(bot, ada, vision, monkeypatch):
    """Telegram gave up on the first delivery while the model was at work and sent the update again:
    the redelivery finds the claim in progress, waits for it, and answers with its reply."""
    redelivery_waits, first_done = threading.Event(), threading.Event()

    def pause():  # the redelivery's wait between looks at the row: the first may finish now
        redelivery_waits.set()
        assert first_done.wait(30)

    def seen(request):
        assert redelivery_waits.wait(30)
        return calls(("report_foods", RICE_AND_CHICKEN))

    in_step_two = threading.Event()
    look = photos.look

    def looking(**kwargs):  # the first delivery's claim is committed: it is in step 2
        in_step_two.set()
        return look(**kwargs)

    monkeypatch.setattr(updates, "_pause", pause)
    monkeypatch.setattr(photos, "look", looking)
    vision.responder = seen
    update, replies = photo_update(), {}

    def deliver(name):
        try:
            replies[name] = send(bot, update)
        finally:
            if name == "first":
                first_done.set()
            connection.close()

    threads = [threading.Thread(target=deliver, args=("first",))]
    threads[0].start()
    assert in_step_two.wait(30)
    threads.append(threading.Thread(target=deliver, args=("again",)))
    threads[1].start()
    for thread in threads:
        thread.join(60)
    assert replies["first"] == replies["again"] and "estimates from the photo" in replies["first"]["text"]
    assert len(vision.requests) == 1
    assert Message.objects.filter(user_id=42).count() == 2  # one turn stored


def test_a_redelivery_of_a_photo_whose_first_delivery_died_is_answered(bot, ada, vision, monkeypatch):
    """The process that claimed it died in step 2 (the row stays in progress): the redelivery waits
    its time, then answers itself — asking for words, with no second model call."""
    update = photo_update()
    ProcessedUpdate.objects.create(update_id=update["update_id"], user_id=42, response=IN_PROGRESS)
    pauses = []
    monkeypatch.setattr(updates, "_pause", lambda: pauses.append(1))
    answer = send(bot, update)
    assert "in words" in answer["text"] and len(pauses) > 1
    assert vision.requests == []
    assert ProcessedUpdate.objects.get(pk=update["update_id"]).response == answer
    assert send(bot, update) == answer



def test_every_photo_reply_is_in_the_language_the_user_chose(bot, vision, telegram):
    ProfileFactory(telegram_id=42, name="Ada", language="es")  # Telegram says English (no language_code)
    vision.responder = lambda request: Scripted(500, b'{"error": {"message": "down"}}')
    assert "Ahora mismo no he podido ver tu foto" in send(bot, photo_update())["text"]
    document = {"file_id": "pdf", "file_unique_id": "p", "mime_type": "application/pdf", "file_size": 100}
    assert "Puedo ver fotos de comidas" in send(bot, photo_update(document=document))["text"]


def test_what_the_camera_wrote_is_not_sent(bot, ada, vision, telegram):
    """An image sent as a file keeps its EXIF (where it was taken) and comments: the provider gets
    the pixels without them."""
    exif = _segment(0xE1, b"Exif\x00\x00GPS 52.5200N 13.4050E") + _segment(0xFE, b"Ada's kitchen")
    telegram.files["exif"] = _jpeg(exif)
    document = {"file_id": "exif", "file_unique_id": "e", "mime_type": "image/jpeg", "file_size": len(_jpeg(exif))}
    assert "estimates from the photo" in send(bot, photo_update(document=document))["text"]
    assert images(vision.requests[0]) == [JPEG]

    png = _PNG + b"".join(_chunk(kind, data) for kind, data in (
        (b"IHDR", bytes(13)), (b"tEXt", b"Location\x00Berlin"), (b"eXIf", b"GPS"), (b"IDAT", bytes(20)), (b"IEND", b"")))
    telegram.files["png"] = png
    document = {"file_id": "png", "file_unique_id": "p", "mime_type": "image/png", "file_size": len(png)}
    send(bot, photo_update(document=document))
    assert images(vision.requests[1]) == [_PNG + _chunk(b"IHDR", bytes(13)) + _chunk(b"IDAT", bytes(20)) + _chunk(b"IEND", b"")]


_PNG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind, data):
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
