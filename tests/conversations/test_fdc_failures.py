"""What the user sees when FoodData Central fails: a clear reply, nothing stored half-done."""

import pytest

from conversations.models import Message
from nutrition.models import FoodEntry
from tests.nutrition.fakes import BANANA_NUTRIENTS, TEST_API_KEY, fdc_food

pytestmark = pytest.mark.django_db


@pytest.fixture
def usda_bot(bot, fake_fdc):
    bot.say("/start")
    return bot


@pytest.mark.parametrize("status, body, headers, expected", [
    (500, {"error": "boom"}, {}, "nutrition lookups are unavailable right now"),
    (429, {"error": {"code": "OVER_RATE_LIMIT"}}, {"Retry-After": "3600"}, "rate limit"),
    (403, {"error": {"code": "API_KEY_INVALID", "message": "An invalid api_key was supplied"}}, {},
     "the API key was refused"),
])
def test_fdc_errors_become_clear_replies(usda_bot, fake_fdc, status, body, headers, expected):
    fake_fdc.add(status, body, headers=headers)
    assert expected in usda_bot.say("/food banana")
    assert expected in usda_bot.say("/log 100 g banana")
    assert FoodEntry.objects.count() == 0


def test_invalid_json_from_fdc(usda_bot, fake_fdc):
    fake_fdc.add(200, raw=b"<html>gateway</html>")
    assert "nutrition lookups are unavailable right now" in usda_bot.say("/food banana")


def test_empty_foods_list(usda_bot, fake_fdc):
    fake_fdc.add(200, {"totalHits": 0, "currentPage": 1, "totalPages": 0, "foods": []})
    assert "No foods found for “banana”" in usda_bot.say("/food banana")
    assert "nothing logged" in usda_bot.say("/log 100 g banana")
    assert FoodEntry.objects.count() == 0


def test_food_without_energy_is_not_logged(usda_bot, fake_fdc):
    fake_fdc.add(200, {"foods": [fdc_food(5, "Mystery powder", {1003: 10.0})]})
    assert "? kcal" in usda_bot.say("/food mystery powder")
    reply = usda_bot.say("/log 100 g mystery powder")
    assert "energy" in reply and "nothing logged" in reply
    assert FoodEntry.objects.count() == 0
    # The turn itself is kept: the user's message and the explanation.
    assert Message.objects.filter(content="/log 100 g mystery powder").count() == 1


def test_live_lookup_is_not_labelled_sample_and_sends_key_in_header(usda_bot, fake_fdc):
    fake_fdc.add(200, {"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    reply = usda_bot.say("/food banana")
    assert "<b>Bananas, raw</b> — 89 kcal" in reply and "Sample data" not in reply
    seen = fake_fdc.requests[-1]
    assert seen.headers.get("X-Api-Key") == TEST_API_KEY and TEST_API_KEY not in seen.raw_target
