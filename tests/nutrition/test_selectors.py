"""search_foods (validation, provider choice) and diary_day (local day, totals)."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from healthagent.errors import ApplicationError
from nutrition.selectors import EMPTY_QUERY, diary_day, is_food_list, normalise_query, search_foods
from tests.factories import FoodEntryFactory, ProfileFactory
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food


@pytest.fixture
def sample(settings):
    settings.NUTRITION_PROVIDER = "sample"


@pytest.mark.parametrize(("raw", "expected"), [
    ("  BaNaNa   Split ", "banana split"),
    ("ｂａｎａｎａ", "banana"),
    ("Straße\tmilk\n", "strasse milk"),
    ("", ""),
])
def test_normalise_query(raw, expected):
    assert normalise_query(raw) == expected


FOOD = {"fdc_id": 1105314, "description": "Apples, raw", "brand": None, "source": "Foundation", "kcal": 52,
        "protein": 0.26, "fat": 0.17, "carbs": 13.8, "fiber": 2.4, "sugars": 10.4, "sodium_mg": 1}


@pytest.mark.parametrize("change", [
    {}, {"fdc_id": None}, {"brand": "Acme"}, {"source": None}, {"kcal": None, "fiber": None}, {"kcal": 0},
    {"kcal": 1000}, {"sodium_mg": 40_000}, {"protein": 105.0},
])
def test_a_food_as_the_providers_give_it_is_accepted(change):
    assert is_food_list([FOOD, {**FOOD, **change}]) and is_food_list([])


@pytest.mark.parametrize("change", [
    {"fdc_id": 0}, {"fdc_id": -3}, {"fdc_id": 2**63}, {"fdc_id": True}, {"fdc_id": 1.0}, {"fdc_id": "1"},
    {"description": None}, {"description": ""}, {"description": "  "}, {"description": "a\x00b"},
    {"description": 7}, {"brand": 7}, {"brand": "a\x00"}, {"source": ["x"]}, {"kcal": -1}, {"kcal": 1000.5},
    {"kcal": float("nan")}, {"kcal": float("inf")}, {"kcal": True}, {"kcal": "52"}, {"protein": 106},
    {"sodium_mg": 40_001}, {"sugars": [1]},
])
def test_a_food_with_one_field_out_of_shape_is_refused(change):
    assert not is_food_list([FOOD, {**FOOD, **change}])


@pytest.mark.parametrize("value", [None, {}, "[]", (FOOD,), [FOOD, None], [[FOOD]], [FOOD, "x"]])
def test_anything_but_a_list_of_foods_is_refused(value):
    assert not is_food_list(value)


def test_sample_provider_answers_when_configured(sample):
    foods = search_foods(query="Bananas")

    assert foods[0]["description"] == "Bananas, raw"
    assert {food["source"] for food in foods} == {"sample"}


def test_usda_provider_gets_the_normalised_query(fake_fdc):
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})

    foods = search_foods(query="  BANANA   Split ", limit=2)

    assert [(f["fdc_id"], f["source"]) for f in foods] == [(173944, "usda")]
    assert fake_fdc.requests[0].query["query"] == ["banana split"]
    assert fake_fdc.requests[0].query["pageSize"] == ["2"]


def test_provider_is_chosen_per_call(fake_fdc, settings):
    fake_fdc.add(body={"foods": [fdc_food(1, "Usda banana", BANANA_NUTRIENTS)]})

    assert search_foods(query="banana")[0]["source"] == "usda"
    settings.NUTRITION_PROVIDER = "sample"
    assert search_foods(query="banana")[0]["source"] == "sample"
    assert len(fake_fdc.requests) == 1


def test_at_most_limit_foods(sample):
    assert len(search_foods(query="raw", limit=2)) == 2
    assert len(search_foods(query="raw", limit=50)) > 2


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_refused(sample, query):
    with pytest.raises(ApplicationError) as err:
        search_foods(query=query)

    assert err.value.message == EMPTY_QUERY == "Tell me what to look up, e.g. /food banana"


def test_long_query_is_refused_with_the_limit(sample):
    assert search_foods(query="b" * 100) == []
    with pytest.raises(ApplicationError) as err:
        search_foods(query="b" * 101)

    assert "100 characters" in err.value.message


@pytest.mark.parametrize("limit", [0, 51, -1, True, 2.5])
def test_limit_outside_1_to_50_is_refused(sample, limit):
    with pytest.raises(ApplicationError) as err:
        search_foods(query="banana", limit=limit)

    assert "between 1 and 50" in err.value.message


def at(zone: str, *args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=ZoneInfo(zone))


@pytest.mark.django_db
def test_diary_day_takes_the_local_day_and_sums(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    me, other = ProfileFactory(), ProfileFactory()
    day = datetime.date(2026, 3, 10)
    late_utc = FoodEntryFactory(user=me, eaten_at=at("UTC", 2026, 3, 9, 23, 30),  # 00:30 in Berlin
                                kcal=Decimal("100.1"), protein=Decimal("1.1"), fat=None, carbs=Decimal("20.0"))
    noon = FoodEntryFactory(user=me, eaten_at=at("Europe/Berlin", 2026, 3, 10, 12, 0),
                            kcal=Decimal("200.2"), protein=Decimal("2.2"), fat=Decimal("3.3"), carbs=None)
    FoodEntryFactory(user=me, eaten_at=at("Europe/Berlin", 2026, 3, 11, 0, 0))   # next day
    FoodEntryFactory(user=me, eaten_at=at("Europe/Berlin", 2026, 3, 9, 23, 59))  # day before
    FoodEntryFactory(user=other, eaten_at=at("Europe/Berlin", 2026, 3, 10, 12, 0))

    result = diary_day(user_id=me.telegram_id, day=day)

    assert result["day"] == day
    assert [e["id"] for e in result["entries"]] == [late_utc.id, noon.id]
    assert result["entries"][1]["description"] == "Bananas, raw"
    assert result["entries"][1]["grams"] == Decimal("150.0")
    assert (result["kcal"], result["protein"], result["fat"], result["carbs"]) == (
        Decimal("300.3"), Decimal("3.3"), Decimal("3.3"), Decimal("20.0"))


@pytest.mark.django_db
def test_diary_day_defaults_to_today_and_is_empty_for_strangers():
    me = ProfileFactory()
    FoodEntryFactory(user=me)  # eaten now
    FoodEntryFactory(user=me, eaten_at=timezone.now() - datetime.timedelta(days=2))

    today = diary_day(user_id=me.telegram_id)
    stranger = diary_day(user_id=999)

    assert len(today["entries"]) == 1 and today["kcal"] == Decimal("133.5")
    assert stranger == {"day": stranger["day"], "entries": [], "kcal": Decimal("0.0"),
                        "protein": Decimal("0.0"), "fat": Decimal("0.0"), "carbs": Decimal("0.0")}


def test_a_query_is_normalised_and_hashed_once_per_query_and_limit(fake_fdc, monkeypatch):
    """A hit pays a dict lookup for its key, not NFKC and a SHA-1; a bot turn's read ahead
    (search_cache_key) and its lookup share it."""
    from caching.api import usda_key
    from nutrition import selectors

    fake_fdc.add(body={"foods": [fdc_food(1, "Banana split", BANANA_NUTRIENTS)]})
    made = []
    monkeypatch.setattr(selectors, "usda_key", lambda query, limit: made.append((query, limit)) or usda_key(query, limit))
    monkeypatch.setattr(selectors, "_keys", {})
    assert selectors.search_cache_key(query=" Banana  Split") == usda_key("banana split", 5)
    for _ in range(3):
        assert search_foods(query=" Banana  Split")[0]["description"] == "Banana split"
    assert made == [("banana split", 5)]
    assert len(fake_fdc.requests) == 1
    search_foods(query="banana split")  # another text, the same key: one entry more, one upstream call still
    assert made == [("banana split", 5)] * 2 and len(fake_fdc.requests) == 1


def test_the_kept_keys_are_bounded(sample, monkeypatch):
    from nutrition import selectors

    monkeypatch.setattr(selectors, "_keys", {})
    for i in range(selectors._KEYS_KEPT + 10):
        selectors._query_key(f"food {i}", 5)
    assert len(selectors._keys) <= selectors._KEYS_KEPT
    selectors._query_key("x" * (selectors._KEPT_QUERY_CHARS + 1), 5)  # a message, not a food: not kept
    assert ("x" * (selectors._KEPT_QUERY_CHARS + 1), 5) not in selectors._keys
