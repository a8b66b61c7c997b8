"""FDC's own portion data turns counts and household measures into grams; where it has none, the
documented table does; volume without a density is refused, never taken as grams."""

import json
from decimal import Decimal

import pytest

from healthagent.errors import ApplicationError
from nutrition.amounts import split_amount
from nutrition.fdc import parse_food, parse_search_response
from nutrition.models import FoodEntry
from nutrition.portions import TABLE, fdc_portions, grams_of
from nutrition.services import food_log
from tests.factories import ProfileFactory
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food, samples_dir

CHEERIOS = samples_dir() / "search-cheerios-branded.json"


def _grams(text: str, food: dict) -> Decimal:
    amount, query = split_amount(text)
    return grams_of(amount, food=food, query=query)


@pytest.mark.skipif(not CHEERIOS.exists(), reason="the shared FDC samples are not beside this checkout")
def test_branded_serving_and_household_text_from_the_real_response():
    foods = parse_search_response(json.loads(CHEERIOS.read_text()))
    # servingSize 39 g, "1 1/2 cup" · 20 g, "3/4 cup (20g)…" · 28 g, "1 bowl" · 26 g, "1 pouch (26g)"
    assert [f["portions"] for f in foods] == [
        {"serving": 39.0, "ml": 0.1099}, {"serving": 20.0, "ml": 0.1127},
        {"serving": 28.0, "bowl": 28.0}, {"serving": 26.0, "item": 26.0}]
    assert _grams("1 cup cheerios", foods[0]) == Decimal("26.0")
    assert _grams("2 servings of cheerios", foods[0]) == Decimal("78.0")
    assert _grams("a bowl of cheerios", foods[2]) == Decimal("28.0")
    assert _grams("1 pouch cheerios".replace("pouch ", ""), foods[3]) == Decimal("26.0")


def test_food_measures_of_survey_foods_win_over_the_table():
    raw = fdc_food(1, "Rice, white, cooked", BANANA_NUTRIENTS, foodMeasures=[
        {"disseminationText": "1 cup", "gramWeight": 186.0},
        {"disseminationText": "1 large", "gramWeight": 60.0},
        {"disseminationText": "1 medium", "gramWeight": 44.0},
        {"disseminationText": "Quantity not specified", "gramWeight": 50.0},
        {"disseminationText": "1 NLEA serving", "gramWeight": 140.0},
        {"disseminationText": "bogus", "gramWeight": "x"},
    ])
    food = parse_food(raw)
    assert food["portions"] == {"ml": 0.7862, "item": 44.0, "serving": 140.0}
    assert _grams("1 cup rice", food) == Decimal("186.0")  # FDC's 186 g, not the table's 158 g
    assert _grams("2 rice", food) == Decimal("88.0")  # "1 medium" is the typical piece
    assert TABLE["rice"]["cup"] == 158


def test_food_portions_of_a_detail_record_are_read_too():
    raw = fdc_food(2, "Egg, whole, raw", {1008: 143}, foodPortions=[
        {"amount": 1, "gramWeight": 50.0, "modifier": "large", "measureUnit": {"name": "undetermined"}},
        {"amount": 1, "gramWeight": 243.0, "measureUnit": {"name": "cup"}},
        {"portionDescription": "1 medium", "gramWeight": 44.0},
    ])
    assert parse_food(raw)["portions"] == {"item": 44.0, "ml": 1.0271}
    assert _grams("2 eggs", parse_food(raw)) == Decimal("88.0")


def test_branded_drink_in_ml_counts_ml_as_grams():
    # FDC gives branded foods labelled in ml per 100 ml, so ml and the data's unit agree.
    assert fdc_portions({"servingSize": 240, "servingSizeUnit": "MLT"}) == {"ml": 1.0}


@pytest.mark.parametrize(("text", "expected"), [
    ("250 ml mystery", "I can't turn 250 ml of mystery into grams"),
    ("a slice of mystery", "I don't know what a slice of mystery weighs"),
    ("2 mystery", "I don't know what one mystery weighs"),
])
def test_unknown_food_measures_are_refused_with_the_reason(text, expected):
    food = parse_food(fdc_food(1, "Mystery powder", {1008: 300}))
    with pytest.raises(ApplicationError) as err:
        _grams(text, food)
    assert expected in err.value.message and "Log it by weight, like /log" in err.value.message


def test_a_bare_large_count_suggests_grams():
    food = parse_food(fdc_food(1, "Bananas, raw", BANANA_NUTRIENTS))
    with pytest.raises(ApplicationError) as err:
        _grams("150 banana", food)
    assert "Did you mean grams? Then send /log 150 g banana" in err.value.message


@pytest.mark.django_db
def test_food_and_log_share_one_cached_lookup(bot, fake_fdc):
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    bot.say("/start")
    assert "Bananas, raw" in bot.say("/food banana")
    assert "Logged 120 g banana" in bot.say("/log 120 g Banana ")
    assert "Logged 1 banana (118 g)" in bot.say("/log 1 banana")
    assert len(fake_fdc.requests) == 1
    assert FoodEntry.objects.count() == 2


@pytest.mark.django_db
def test_every_table_food_is_found_in_the_sample_set(settings):
    """The table's words are ones people type; each finds a sample food, so the table is reachable."""
    settings.NUTRITION_PROVIDER = "sample"
    user = ProfileFactory()
    for word, measures in TABLE.items():
        unit = "1 cup" if "cup" in measures else "1"
        if word in ("kiwi", "peach", "water", "noodle", "nut", "espresso", "chicken breast", "salad",
                    "pizza"):
            continue  # not in the sample set (FDC has them) or reached through a keyword
        logged = food_log(user_id=user.telegram_id, text=f"{unit} {word}")
        assert logged.entry.grams > 0, word
