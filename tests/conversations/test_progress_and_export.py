"""/week and /month (a chart sent as a photo, one line of text, cached and never stale) and /export
(a CSV sent as a document, read back here). Files are queued as OutgoingMessage rows in the turn's
transaction and uploaded by the delivery worker."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.utils import timezone
from PIL import Image

from caching.api import progress_key
from caching.backend import stats
from conversations import outgoing
from conversations.charts import HEIGHT_PX, WIDTH_PX
from conversations.delivery.sender import BotAPISender
from conversations.delivery.worker import Worker
from conversations.export import COLUMNS, safe_cell
from conversations.models import OutgoingMessage
from nutrition.models import FoodEntry
from tests.telegram_api import TOKEN, FakeBotAPI

pytestmark = pytest.mark.django_db(transaction=True)


class Queued:
    """The files queued since the last clear(), oldest first, as (chat_id, row)."""

    def __init__(self) -> None:
        self.after = 0

    def _rows(self) -> list[tuple[int, OutgoingMessage]]:
        rows = OutgoingMessage.objects.filter(pk__gt=self.after).exclude(kind=OutgoingMessage.Kind.TEXT).order_by("pk")
        return [(row.chat_id, row) for row in rows]

    def __iter__(self):
        return iter(self._rows())

    def __getitem__(self, index: int) -> tuple[int, OutgoingMessage]:
        return self._rows()[index]

    def clear(self) -> None:
        self.after = OutgoingMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def sent():
    """Turns here may send files (as `manage.py chat` does, with its own delivery): the queue is read."""
    with outgoing.delivered_here():
        yield Queued()


def _content(row: OutgoingMessage) -> bytes:
    return bytes(row.file or b"")


def _png(row: OutgoingMessage) -> Image.Image:
    assert row.kind == OutgoingMessage.Kind.PHOTO and row.origin == "chart"
    assert _content(row).startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(_content(row)))
    image.load()
    return image


def _food(user_id: int, kcal: str, *, days_ago: int = 0, description: str = "Bananas, raw", said: str = "") -> FoodEntry:
    return FoodEntry.objects.create(user_id=user_id, description=description, said=said, grams=Decimal("100"),
                                    kcal=Decimal(kcal), eaten_at=timezone.now() - datetime.timedelta(days=days_ago))


def test_week_sends_a_png_chart_and_one_line(bot, sent):
    bot.say("/start")
    bot.say("/set kcal_target 2000")
    bot.say("/weight 72.5")
    _food(42, "2500.0", days_ago=2)
    _food(42, "1500.0", days_ago=1)
    sent.clear()
    text = bot.say("/week")
    assert text.startswith("Last 7 days: 2000 kcal a day on average over 2 days logged; target 2000 kcal, 1 day over")
    assert "weight 72.5 kg" in text and "\n" not in text
    (chat_id, file), = sent
    assert chat_id == 42 and file.filename.startswith("week-") and file.text.startswith("Your week: ")
    assert file.user_id == 42 and file.status == OutgoingMessage.Status.QUEUED and file.dedupe_key is None
    image = _png(file)
    assert image.format == "PNG" and image.size == (WIDTH_PX, HEIGHT_PX)


def test_month_covers_30_days(bot, sent):
    bot.say("/start")
    _food(42, "1800.0", days_ago=20)
    _food(42, "1000.0", days_ago=40)  # outside the month
    text = bot.say("/month")
    assert text.startswith("Last 30 days: 1800 kcal a day on average over 1 day logged")
    assert _png(sent[-1][1]).size == (WIDTH_PX, HEIGHT_PX)


def test_the_chart_is_cached_and_drawn_again_when_an_entry_of_the_period_changes(bot, sent):
    bot.say("/start")
    _food(42, "1000.0")
    with stats.capture() as events:
        bot.say("/week")
    assert ("progress", "miss") in events and ("progress", "set") in events
    with stats.capture() as events:
        bot.say("/week")
    assert ("progress", "hit") in events and ("progress", "miss") not in events
    assert _content(sent[-1][1]) == _content(sent[-2][1])
    # Written behind the bot's back (another process, the admin): no signal, no invalidation sent.
    _food(42, "500.0", days_ago=3)
    assert "1 day logged" not in bot.say("/week")  # the hash of what is drawn changed: drawn afresh
    assert _content(sent[-1][1]) != _content(sent[-2][1])
    with stats.capture() as events:
        bot.say("/week")  # the stale entry was dropped on commit: this one stores the new chart
    assert ("progress", "miss") in events and ("progress", "set") in events
    with stats.capture() as events:
        assert "2 days logged" in bot.say("/week")
    assert ("progress", "hit") in events


def test_a_weight_changes_the_chart(bot, sent):
    bot.say("/start")
    bot.say("/weight 80")
    bot.say("/week")
    first = _content(sent[-1][1])
    bot.say("/set weight_kg 78")
    assert bot.say("/week") == "Nothing logged in the last 7 days; weight 80 → 78 kg (−2 kg)."
    assert _content(sent[-1][1]) != first


def test_forget_drops_the_cached_charts(bot, sent):
    from django.core.cache import cache

    bot.say("/start")
    _food(42, "1000.0")
    bot.say("/week")
    assert cache.get(progress_key(42, "week")) is not None
    bot.say("/forget yes")
    assert cache.get(progress_key(42, "week")) is None


def test_without_a_way_to_send_files_the_reply_says_so(bot, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    bot.say("/start")
    assert "can't send the chart" in bot.say("/week")
    assert "can't send files" in bot.say("/export")


def test_files_are_queued_in_the_turn_and_uploaded_once_by_the_worker(bot, settings):
    api = FakeBotAPI()
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, api.url
    try:
        bot.say("/start")
        _food(42, "900.0")
        assert "1 day logged" in bot.say("/week")
        assert "1 diary entry" in bot.say("/export")
        assert api.sent == []  # the turn only queued them
        assert Worker(BotAPISender()).deliver_due() == {"sent": 2}
        assert Worker(BotAPISender()).deliver_due() == {}  # once
    finally:
        api.close()
    photo, document = api.sent
    assert photo["chat_id"] == "42" and photo["caption"].startswith("Your week")
    name, png = photo["photo"]
    assert name.endswith(".png") and Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX)
    name, content = document["document"]
    assert name.endswith(".csv") and content.decode("utf-8-sig").startswith(",".join(COLUMNS))
    rows = OutgoingMessage.objects.order_by("pk")
    assert [(row.origin, row.status) for row in rows] == [("chart", "sent"), ("export", "sent")]
    assert all(row.file is None for row in rows)  # not kept once Telegram has it


def test_two_weeks_in_a_row_are_two_charts(bot, sent):
    bot.say("/start")
    bot.say("/week")
    bot.say("/week")
    assert [row.origin for _, row in sent] == ["chart", "chart"]


def test_a_turn_that_rolls_back_queues_no_file(bot, sent, monkeypatch):
    from conversations import updates

    bot.say("/start")

    def fail(**kwargs):
        raise RuntimeError("the turn fails after its reply was made")

    monkeypatch.setattr(updates, "turn_finish", fail)
    with pytest.raises(RuntimeError):
        bot.say("/week")
    assert list(sent) == []


def test_a_refused_upload_does_not_fail_the_turn_and_is_recorded(bot, settings):
    api = FakeBotAPI()
    api.fail("sendPhoto", 403, "Forbidden: bot was blocked by the user")
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, api.url
    try:
        bot.say("/start")
        assert bot.say("/week") == "Nothing logged in the last 7 days."
        assert Worker(BotAPISender()).deliver_due() == {"blocked": 1}
    finally:
        api.close()
    assert [method for method, _ in api.calls] == ["sendPhoto"]
    assert OutgoingMessage.objects.get().status == OutgoingMessage.Status.FAILED


def test_export_sends_the_diary_and_weights_as_a_csv_that_reads_back(bot, sent):
    bot.say("/start")
    bot.say("/set tz Europe/Berlin")
    bot.say("/log 150 g banana")
    bot.say("/weight 72.5")
    _food(42, "10.0", description="=HYPERLINK(\"http://x\",\"y\")", said="@SUM(A1)")
    _food(42, "20.0", description="-2+3", said="+1")
    text = bot.say("/export")
    assert text == "Your data as a CSV file: 3 diary entries and 1 weight."
    (_, file), = sent
    assert file.kind == OutgoingMessage.Kind.DOCUMENT and file.origin == "export" and file.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(_content(file).decode("utf-8-sig"))))
    assert [row["kind"] for row in rows] == ["food", "food", "food", "weight"]
    banana = rows[0]
    assert banana["food"] == "Bananas, raw" and Decimal(banana["grams"]) == 150 and Decimal(banana["kcal"]) > 100
    assert datetime.datetime.fromisoformat(banana["time"]).utcoffset() in (datetime.timedelta(hours=1),
                                                                            datetime.timedelta(hours=2))
    assert rows[1]["food"] == "'=HYPERLINK(\"http://x\",\"y\")" and rows[1]["amount"] == "'@SUM(A1)"
    assert rows[2]["food"] == "'-2+3" and rows[2]["amount"] == "'+1"
    assert Decimal(rows[3]["weight_kg"]) == Decimal("72.5") and rows[3]["food"] == ""


@pytest.mark.parametrize("text, shown", [("=1+1", "'=1+1"), ("+49 30", "'+49 30"), ("-", "'-"), ("@a", "'@a"),
                                         ("\tx", "'\tx"), ("\rx", "'\rx"), ("banana", "banana"), ("", ""),
                                         (None, ""), ("1=1", "1=1")])
def test_cells_that_start_like_a_formula_are_shown_not_run(text, shown):
    assert safe_cell(text) == shown


def test_export_of_a_user_with_nothing(bot, sent):
    bot.say("/start")
    assert bot.say("/export") == "Your data as a CSV file: 0 diary entries and 0 weights."
    assert _content(sent[0][1]).decode("utf-8-sig").strip() == ",".join(COLUMNS)
