"""The offline sample data set and its search."""

import json
import math

import pytest

from nutrition.sample import DATA_FILE, SampleProvider, tokens
from tests.nutrition.fakes import FOOD_FIELDS

provider = SampleProvider()


def top(query: str) -> dict:
    return provider.search(query, page_size=5)[0]


def test_banana_is_found_with_its_values():
    food = top("banana")

    assert food == {
        "fdc_id": 173944, "description": "Bananas, raw", "data_type": "Sample", "brand": None,
        "kcal": 89.0, "protein": 1.09, "fat": 0.33, "carbs": 22.84, "fiber": 2.6, "sugars": 12.23,
        "sodium_mg": 1.0, "serving_size": None, "serving_unit": None, "portions": {}, "source": "sample",
    }


@pytest.mark.parametrize("query", ["Bananas", "BANANA", "  banana  ", "ｂａｎａｎａｓ", "a banana"])
def test_search_ignores_case_plurals_width_and_filler_words(query):
    assert top(query)["fdc_id"] == 173944


@pytest.mark.parametrize("query", ["xqzvbl", "!!!", "", "the of"])
def test_no_match_is_an_empty_list(query):
    assert provider.search(query, page_size=5) == []


@pytest.mark.parametrize(("query", "expected"), [
    ("apple", "Apples, raw, with skin"),
    ("rice", "Rice, white, long-grain, regular, enriched, cooked"),
    ("brown rice", "Rice, brown, long-grain, cooked"),
    ("chicken breast", "Chicken, broilers or fryers, breast, meat only, cooked, roasted"),
    ("egg", "Egg, whole, raw, fresh"),
    ("eggs", "Egg, whole, raw, fresh"),
    ("oats", "Oats"),
    ("oatmeal", "Cereals, oats, regular and quick, unenriched, cooked with water, without salt"),
    ("milk", "Milk, whole, 3.25% milkfat, without added vitamin A and vitamin D"),
    ("bread", "Bread, white, commercially prepared"),
    ("whole wheat bread", "Bread, whole-wheat, commercially prepared"),
    ("strawberries", "Strawberries, raw"),
    ("tomatoes", "Tomatoes, red, ripe, raw, year round average"),
    ("dark chocolate", "Chocolate, dark, 70-85% cacao solids"),
    ("coffee", "Beverages, coffee, brewed, prepared with tap water"),
    ("spaghetti", "Pasta, cooked, enriched, without added salt"),
])
def test_everyday_foods_rank_first(query, expected):
    assert top(query)["description"] == expected


def test_all_words_beat_some_words():
    descriptions = [food["description"] for food in provider.search("chicken breast raw", page_size=3)]

    assert descriptions[0] == "Chicken, broilers or fryers, breast, meat only, raw"
    assert descriptions[1] == "Chicken, broilers or fryers, breast, meat only, cooked, roasted"


def test_page_size_caps_the_results():
    assert len(provider.search("raw", page_size=3)) == 3
    assert len(provider.search("raw", page_size=50)) > 10
    with pytest.raises(ValueError):
        provider.search("raw", page_size=0)


def test_results_are_copies():
    top("banana")["kcal"] = 0

    assert top("banana")["kcal"] == 89.0


def test_data_set_is_well_formed():
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    foods = provider.search("raw", page_size=200)

    assert 60 <= len(raw) <= 100
    assert len({food["fdc_id"] for food in raw}) == len(raw)
    assert len({food["description"] for food in raw}) == len(raw)
    assert foods and all(set(food) == FOOD_FIELDS for food in foods)
    for food in raw:
        values = [food[name] for name in ("kcal", "protein", "fat", "carbs", "fiber", "sodium_mg")]
        assert all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values), food
        assert food["kcal"] <= 900 and food["protein"] + food["fat"] + food["carbs"] <= 100.5, food


def test_tokens():
    assert tokens("Bananas, RAW") == ["banana", "raw"]
    assert tokens("berries glass potatoes peaches hummus") == ["berry", "glass", "potato", "peach", "hummus"]
