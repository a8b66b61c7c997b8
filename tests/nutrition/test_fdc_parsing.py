"""parse_search_response: the real saved FDC answer and the quirks ARCHITECTURE.md §6 lists."""

import json
import math

import pytest

from healthagent.errors import ApplicationError
from nutrition.fdc import parse_search_response
from tests.nutrition.fakes import BANANA_NUTRIENTS, FOOD_FIELDS, fdc_food, samples_dir

def parse_one(food: dict) -> dict:
    [parsed] = parse_search_response({"foods": [food]})
    return parsed


@pytest.fixture
def cheerios():
    path = samples_dir() / "search-cheerios-branded.json"
    if not path.exists():
        pytest.skip(f"saved FDC response not found at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def test_real_response_first_food(cheerios):
    foods = parse_search_response(cheerios)

    assert len(foods) == 4
    assert foods[0] == {
        "fdc_id": 2738636,
        "description": "Cheerios Original Gluten Free Breakfast Cereal",
        "data_type": "Branded",
        "brand": "GENERAL MILLS SALES INC.",
        # The file repeats 1008 (359, 94, 367 kcal) and the other ids: the first one counts.
        "kcal": 359.0,
        "protein": 12.8,
        "fat": 6.41,
        "carbs": 74.4,
        "fiber": 10.3,
        "sugars": 5.13,
        "sodium_mg": 487.0,
        "serving_size": 39.0,
        "serving_unit": "g",  # FDC says GRM
        # 39 g is "1 1/2 cup": 26 g a cup, 0.11 g per ml — what "/log 1 cup cheerios" weighs.
        "portions": {"serving": 39.0, "ml": 0.1099},
        "source": "usda",
    }


def test_real_response_every_food(cheerios):
    foods = parse_search_response(cheerios)

    assert [f["fdc_id"] for f in foods] == [2738636, 2517161, 2738631, 759418]
    assert [f["brand"] for f in foods] == ["GENERAL MILLS SALES INC.", "General Mills",
                                           "GENERAL MILLS SALES INC.", "GENERAL MILLS SALES INC."]
    assert [f["kcal"] for f in foods] == [359.0, 359.0, 357.0, 385.0]
    assert foods[3]["serving_unit"] == "g" and foods[3]["serving_size"] == 26.0
    for food in foods:
        assert set(food) == FOOD_FIELDS
        assert all(math.isfinite(food[name]) for name in ("kcal", "protein", "fat", "carbs", "sodium_mg"))
    json.dumps(foods, allow_nan=False)  # cacheable as JSON


def test_food_without_energy_has_kcal_none():
    food = parse_one(fdc_food(1, "Water, mystery", {1003: 0.5, 1093: 4}))

    assert food["kcal"] is None
    assert food["protein"] == 0.5
    assert food["sodium_mg"] == 4.0
    assert food["fat"] is None


def test_repeated_nutrient_id_first_wins():
    raw = fdc_food(1, "Twice", {1008: 100})
    raw["foodNutrients"] += [{"nutrientId": 1008, "unitName": "KCAL", "value": 250},
                             {"nutrientId": 1003, "unitName": "G", "value": 3.0},
                             {"nutrientId": 1003, "unitName": "G", "value": 9.0}]

    food = parse_one(raw)

    assert food["kcal"] == 100.0
    assert food["protein"] == 3.0


def test_unusable_first_entry_gives_way_to_the_next():
    raw = fdc_food(1, "Patchy")
    raw["foodNutrients"] = [{"nutrientId": 1008, "unitName": "KCAL", "value": None},
                            {"nutrientId": 1008, "unitName": "KCAL", "value": 120}]

    assert parse_one(raw)["kcal"] == 120.0


@pytest.mark.parametrize(("owner", "name", "expected"), [
    ("", None, None), ("", "", None), ("", "Cheerios", "Cheerios"), ("  ", "Cheerios", "Cheerios"),
    ("General Mills", "Cheerios", "General Mills"), (None, None, None),
])
def test_brand(owner, name, expected):
    raw = fdc_food(1, "Cereal", {1008: 380})
    if owner is not None:
        raw["brandOwner"] = owner
    if name is not None:
        raw["brandName"] = name

    assert parse_one(raw)["brand"] == expected


def test_energy_in_kilojoules_is_converted():
    raw = fdc_food(1, "Metric biscuit")
    raw["foodNutrients"] = [{"nutrientId": 1008, "unitName": "KJ", "value": 418.4}]

    assert parse_one(raw)["kcal"] == 100.0


@pytest.mark.parametrize(("nutrients", "expected"), [
    ([(2047, 95.0)], 95.0),                    # Atwater general only
    ([(2047, 95.0), (2048, 92.0)], 92.0),      # Atwater specific is preferred
    ([(2048, 92.0), (1008, 90.0)], 90.0),      # plain energy is preferred over both
])
def test_foundation_foods_fall_back_to_atwater_energy(nutrients, expected):
    raw = fdc_food(1, "Foundation food")
    raw["foodNutrients"] = [{"nutrientId": nid, "unitName": "KCAL", "value": v} for nid, v in nutrients]

    assert parse_one(raw)["kcal"] == expected


def test_nutrient_number_is_used_when_the_id_is_missing():
    raw = fdc_food(1, "Old style")
    raw["foodNutrients"] = [{"nutrientNumber": "208", "unitName": "KCAL", "value": 52},
                            {"nutrientNumber": "203", "unitName": "G", "value": 0.26}]

    food = parse_one(raw)

    assert (food["kcal"], food["protein"]) == (52.0, 0.26)


@pytest.mark.parametrize("value", ["89", None, True, float("nan"), float("inf"), -1, 5000, 10**400, [89]])
def test_values_that_are_not_plausible_finite_numbers_are_dropped(value):
    raw = fdc_food(1, "Odd")
    raw["foodNutrients"] = [{"nutrientId": 1008, "unitName": "KCAL", "value": value},
                            {"nutrientId": 1003, "unitName": "G", "value": 2.5}]

    food = parse_one(raw)

    assert food["kcal"] is None
    assert food["protein"] == 2.5


def test_unknown_unit_is_dropped_and_milligram_macros_converted():
    raw = fdc_food(1, "Units")
    raw["foodNutrients"] = [{"nutrientId": 1008, "unitName": "BTU", "value": 300},
                            {"nutrientId": 1003, "unitName": "MG", "value": 2500},
                            {"nutrientId": 1093, "unitName": "G", "value": 0.4}]

    food = parse_one(raw)

    assert (food["kcal"], food["protein"], food["sodium_mg"]) == (None, 2.5, 400.0)


def test_malformed_foods_are_skipped():
    good = fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)
    payload = {"foods": [
        {"description": "no id"},
        {"fdcId": 2},
        {"fdcId": 3, "description": "   "},
        {"fdcId": True, "description": "bool id"},
        {"fdcId": -4, "description": "negative id"},
        "not a food",
        None,
        good,
        {"fdcId": "5", "description": "id as text", "foodNutrients": "nonsense"},
    ]}

    foods = parse_search_response(payload)

    assert [(f["fdc_id"], f["description"]) for f in foods] == [(173944, "Bananas, raw"), (5, "id as text")]
    assert foods[1]["kcal"] is None


@pytest.mark.parametrize(("size", "unit", "expected"), [
    (39, "GRM", (39.0, "g")), (240, "MLT", (240.0, "ml")), (30, "g", (30.0, "g")),
    (1, "cup", (1.0, "cup")), (0, "g", (None, None)), ("39", "g", (None, None)), (50, None, (50.0, None)),
])
def test_serving(size, unit, expected):
    raw = fdc_food(1, "Served", servingSize=size, servingSizeUnit=unit)

    food = parse_one(raw)

    assert (food["serving_size"], food["serving_unit"]) == expected


@pytest.mark.parametrize("payload", [[], None, "foods", {"totalHits": 1}, {"foods": None}])
def test_payload_without_a_foods_list_is_an_error(payload):
    with pytest.raises(ApplicationError) as err:
        parse_search_response(payload)

    assert err.value.status == 503
    assert "nutrition lookups are unavailable right now" in err.value.message


def test_empty_foods_list():
    assert parse_search_response({"totalHits": 0, "foods": []}) == []
