"""food_log: amounts as people write them, the values stored, and nothing stored on any refusal."""

from decimal import Decimal

import pytest

from healthagent.errors import ApplicationError
from nutrition.models import FoodEntry
from nutrition.amounts import BAD_AMOUNT
from nutrition.services import food_log
from tests.factories import ProfileFactory
from tests.nutrition.fakes import fdc_food

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample(settings):
    settings.NUTRITION_PROVIDER = "sample"


@pytest.fixture
def user():
    return ProfileFactory()


# Each as a person writes it → the food found in the sample data → grams stored.
@pytest.mark.parametrize(("text", "description", "grams"), [
    ("150 g banana", "Bananas, raw", "150.0"),
    ("150g banana", "Bananas, raw", "150.0"),
    ("100 grams banana", "Bananas, raw", "100.0"),
    ("1,5 kg rice", "Rice, white, long-grain, regular, enriched, cooked", "1500.0"),
    ("1.5kg rice", "Rice, white, long-grain, regular, enriched, cooked", "1500.0"),
    ("2 oz cheese", "Cheese, cheddar", "56.7"),
    ("1 lb chicken", "Chicken, broilers or fryers, breast, meat only, cooked, roasted", "453.6"),
    ("５０ g banana", "Bananas, raw", "50.0"),
    (".5 kg rice", "Rice, white, long-grain, regular, enriched, cooked", "500.0"),
    ("2 eggs", "Egg, whole, raw, fresh", "100.0"),
    ("a banana", "Bananas, raw", "118.0"),
    ("an apple", "Apples, raw, with skin", "182.0"),
    ("banana", "Bananas, raw", "118.0"),
    ("half an avocado", "Avocados, raw, all commercial varieties", "75.0"),
    ("½ avocado", "Avocados, raw, all commercial varieties", "75.0"),
    ("1/2 cup rice", "Rice, white, long-grain, regular, enriched, cooked", "79.0"),
    ("1 1/2 cups rice", "Rice, white, long-grain, regular, enriched, cooked", "237.0"),
    ("1 cup rice", "Rice, white, long-grain, regular, enriched, cooked", "158.0"),
    ("1 tbsp olive oil", "Oil, olive, salad or cooking", "13.5"),
    ("2 tsp honey", "Honey", "14.1"),
    ("a slice of bread", "Bread, white, commercially prepared", "25.0"),
    ("2 slices of toast", "Bread, white, commercially prepared", "50.0"),
    ("250 ml milk", "Milk, whole, 3.25% milkfat, without added vitamin A and vitamin D", "257.8"),
    ("a glass of orange juice", "Orange juice, raw", "262.1"),
    ("a coffee", "Beverages, coffee, brewed, prepared with tap water", "237.0"),
    ("a dozen eggs", "Egg, whole, raw, fresh", "600.0"),
    ("a couple of eggs", "Egg, whole, raw, fresh", "100.0"),
    ("2x eggs", "Egg, whole, raw, fresh", "100.0"),
    ("3 × eggs", "Egg, whole, raw, fresh", "150.0"),
    ("one and a half cups rice", "Rice, white, long-grain, regular, enriched, cooked", "237.0"),
    ("2 and a half cups rice", "Rice, white, long-grain, regular, enriched, cooked", "395.0"),
    ("a handful of almonds", "Nuts, almonds", "28.0"),
])
def test_amounts_as_people_write_them(sample, user, text, description, grams):
    logged = food_log(user_id=user.telegram_id, text=text)

    stored = FoodEntry.objects.get()
    assert (stored.description, stored.grams) == (description, Decimal(grams))
    assert logged.entry.pk == stored.pk


@pytest.mark.parametrize(("text", "expected"), [
    ("1e2 g banana", BAD_AMOUNT),  # as /set refuses 1e4: plain numbers only
    ("-5 g banana", BAD_AMOUNT),
    ("0 g banana", BAD_AMOUNT),
    ("1/0 cup rice", BAD_AMOUNT),
    ("+5 g banana", BAD_AMOUNT),
    ("1.2.3 g banana", BAD_AMOUNT),
    ("lots of banana", "How much is “lots”?"),
    ("several bananas", "How much is “several”?"),
    ("9999 g banana", "more than 5 kg"),
    ("6 kg banana", "more than 5 kg"),
    ("0.01 g banana", "rounds to 0 g"),
    ("250 ml chicken", "I can't turn 250 ml of chicken into grams: I don't know how dense it is"),
    ("2 slices of chicken", "I don't know what a slice of chicken weighs"),
    ("2 rice", "I don't know what one rice weighs"),
    ("", "Tell me what and how much"),
    ("150 g", "Tell me what and how much"),
])
def test_refusals_say_why_and_store_nothing(sample, user, text, expected):
    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, text=text)

    assert expected in err.value.message
    assert FoodEntry.objects.count() == 0


def test_bad_amount_message_accepts_zero_honestly():
    # The old wording ("between 0 and 5000") suggested 0 was fine; it is refused.
    assert "more than 0" in BAD_AMOUNT and "between 0" not in BAD_AMOUNT


def test_food_log_stores_scaled_values(sample, user):
    entry = food_log(user_id=user.telegram_id, text="150 g Bananas").entry

    stored = FoodEntry.objects.get()
    assert stored.pk == entry.pk and stored.user_id == user.telegram_id
    assert (stored.fdc_id, stored.description) == (173944, "Bananas, raw")
    # 89 kcal, 1.09 / 0.33 / 22.84 g per 100 g, times 1.5, rounded half up to 0.1
    assert (stored.grams, stored.kcal, stored.protein, stored.fat, stored.carbs) == (
        Decimal("150.0"), Decimal("133.5"), Decimal("1.6"), Decimal("0.5"), Decimal("34.3"))


def test_food_log_with_other_units(sample, user):
    entry = food_log(user_id=user.telegram_id, text="1,5 kg rice").entry

    assert (entry.grams, entry.kcal, entry.carbs) == (Decimal("1500.0"), Decimal("1950.0"), Decimal("422.6"))
    assert FoodEntry.objects.count() == 1


def test_no_match_stores_nothing(sample, user):
    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, text="100 g xqzvbl")

    assert err.value.message.startswith("No food matched “xqzvbl”")
    assert "nothing logged" in err.value.message
    assert FoodEntry.objects.count() == 0


def test_top_match_without_energy_stores_nothing(fake_fdc, user):
    fake_fdc.add(body={"foods": [fdc_food(42, "Mystery powder", {1003: 80.0})]})

    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, text="30 g mystery powder")

    assert "no energy value" in err.value.message and "nothing logged" in err.value.message
    assert "Mystery powder" in err.value.message
    assert FoodEntry.objects.count() == 0
    # The same lookup /food makes (five results): one cache key for both.
    assert fake_fdc.requests[0].query["pageSize"] == ["5"]


def test_usda_food_is_logged_with_missing_nutrients_kept_unknown(fake_fdc, user):
    fake_fdc.add(body={"foods": [fdc_food(2738636, "Cheerios", {1008: 359, 1003: 12.8}, brandOwner="GM")]})

    entry = food_log(user_id=user.telegram_id, text="39 g cheerios").entry

    entry.refresh_from_db()
    assert (entry.fdc_id, entry.kcal, entry.protein, entry.fat, entry.carbs) == (
        2738636, Decimal("140.0"), Decimal("5.0"), None, None)


def test_upstream_failure_stores_nothing(fake_fdc, user):
    fake_fdc.add(500, raw=b"")

    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, text="100 g banana")

    assert err.value.status == 503
    assert FoodEntry.objects.count() == 0


def test_unknown_user_stores_nothing_and_costs_no_lookup(fake_fdc):
    with pytest.raises(ApplicationError) as err:
        food_log(user_id=424242, text="100 g banana")

    assert err.value.status == 404 and "/start" in err.value.message
    assert FoodEntry.objects.count() == 0
    assert fake_fdc.requests == []


def test_long_description_is_cut_to_the_column(fake_fdc, user):
    fake_fdc.add(body={"foods": [fdc_food(7, "x, " + "y" * 400, {1008: 100})]})

    entry = food_log(user_id=user.telegram_id, text="100 g x").entry

    assert len(FoodEntry.objects.get(pk=entry.pk).description) == 255


@pytest.mark.django_db(transaction=True)
def test_profile_deleted_during_the_lookup_stores_nothing(sample, monkeypatch):
    # /forget can delete the profile after the existence check; the foreign key then refuses the
    # row at commit, and the user gets the same answer as an unknown user.
    class Exists:
        def filter(self, **kwargs):
            return self

        def exists(self):
            return True

    monkeypatch.setattr("nutrition.services.Profile.objects", Exists())

    with pytest.raises(ApplicationError) as err:
        food_log(user_id=31337, text="100 g banana")

    assert err.value.status == 404
    assert FoodEntry.objects.count() == 0
