"""parse_amount and food_log: the values stored, and nothing stored on any refusal."""

from decimal import Decimal

import pytest

from healthagent.errors import ApplicationError
from nutrition.models import FoodEntry
from nutrition.services import BAD_AMOUNT, food_log, parse_amount
from tests.factories import ProfileFactory
from tests.nutrition.fakes import fdc_food

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample(settings):
    settings.NUTRITION_PROVIDER = "sample"


@pytest.fixture
def user():
    return ProfileFactory()


@pytest.mark.parametrize(("amount", "unit", "grams"), [
    ("150", "g", "150.0"), ("150", "grams", "150.0"), ("1", "Gram", "1.0"), ("1,5", "kg", "1500.0"),
    ("2", "oz", "56.7"), ("1", "lb", "453.6"), ("250", "ml", "250.0"), ("0.05", "g", "0.1"),
    ("5000", "g", "5000.0"), ("５０", "g", "50.0"), (".5", "kg", "500.0"), ("12.", "g", "12.0"),
])
def test_parse_amount(amount, unit, grams):
    assert parse_amount(amount, unit) == Decimal(grams)


@pytest.mark.parametrize("amount", ["abc", "-5", "0", "9999", "lots", "", "1e3", "nan", "inf", "0.04",
                                    "5000.1", "1/2", "+5", "1.2.3", "9" * 40])
def test_parse_amount_refuses_with_what_is_accepted(amount):
    with pytest.raises(ApplicationError) as err:
        parse_amount(amount, "g")

    assert err.value.message == BAD_AMOUNT
    assert "between 0 and 5000" in err.value.message and "/log 150 g banana" in err.value.message


def test_parse_amount_refuses_too_many_kilograms():
    with pytest.raises(ApplicationError) as err:
        parse_amount("6", "kg")

    assert err.value.message == BAD_AMOUNT


@pytest.mark.parametrize("unit", ["cups", "slices", "", "kcal"])
def test_parse_amount_refuses_unknown_units(unit):
    with pytest.raises(ApplicationError) as err:
        parse_amount("1", unit)

    assert "g, kg, oz, lb or ml" in err.value.message


def test_food_log_stores_scaled_values(sample, user):
    entry = food_log(user_id=user.telegram_id, amount="150", unit="g", query="Bananas")

    stored = FoodEntry.objects.get()
    assert stored.pk == entry.pk and stored.user_id == user.telegram_id
    assert (stored.fdc_id, stored.description) == (173944, "Bananas, raw")
    # 89 kcal, 1.09 / 0.33 / 22.84 g per 100 g, times 1.5, rounded half up to 0.1
    assert (stored.grams, stored.kcal, stored.protein, stored.fat, stored.carbs) == (
        Decimal("150.0"), Decimal("133.5"), Decimal("1.6"), Decimal("0.5"), Decimal("34.3"))


def test_food_log_with_other_units(sample, user):
    entry = food_log(user_id=user.telegram_id, amount="1,5", unit="kg", query="rice")

    assert (entry.grams, entry.kcal, entry.carbs) == (Decimal("1500.0"), Decimal("1950.0"), Decimal("422.6"))
    assert FoodEntry.objects.count() == 1


@pytest.mark.parametrize("amount", ["abc", "-5", "0", "9999", "lots"])
def test_bad_amount_stores_nothing(sample, user, amount):
    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, amount=amount, unit="g", query="banana")

    assert err.value.message == BAD_AMOUNT
    assert FoodEntry.objects.count() == 0


def test_no_match_stores_nothing(sample, user):
    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, amount="100", unit="g", query="xqzvbl")

    assert err.value.message.startswith("No food matched “xqzvbl”")
    assert "nothing logged" in err.value.message
    assert FoodEntry.objects.count() == 0


def test_top_match_without_energy_stores_nothing(fake_fdc, user):
    fake_fdc.add(body={"foods": [fdc_food(42, "Mystery powder", {1003: 80.0})]})

    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, amount="30", unit="g", query="mystery powder")

    assert "no energy value" in err.value.message and "nothing logged" in err.value.message
    assert "Mystery powder" in err.value.message
    assert FoodEntry.objects.count() == 0
    assert fake_fdc.requests[0].query["pageSize"] == ["1"]


def test_usda_food_is_logged_with_missing_nutrients_kept_unknown(fake_fdc, user):
    fake_fdc.add(body={"foods": [fdc_food(2738636, "Cheerios", {1008: 359, 1003: 12.8}, brandOwner="GM")]})

    entry = food_log(user_id=user.telegram_id, amount="39", unit="g", query="cheerios")

    entry.refresh_from_db()
    assert (entry.fdc_id, entry.kcal, entry.protein, entry.fat, entry.carbs) == (
        2738636, Decimal("140.0"), Decimal("5.0"), None, None)


def test_upstream_failure_stores_nothing(fake_fdc, user):
    fake_fdc.add(500, raw=b"")

    with pytest.raises(ApplicationError) as err:
        food_log(user_id=user.telegram_id, amount="100", unit="g", query="banana")

    assert err.value.status == 503
    assert FoodEntry.objects.count() == 0


def test_unknown_user_stores_nothing_and_costs_no_lookup(fake_fdc):
    with pytest.raises(ApplicationError) as err:
        food_log(user_id=424242, amount="100", unit="g", query="banana")

    assert err.value.status == 404 and "/start" in err.value.message
    assert FoodEntry.objects.count() == 0
    assert fake_fdc.requests == []


def test_long_description_is_cut_to_the_column(fake_fdc, user):
    fake_fdc.add(body={"foods": [fdc_food(7, "x" * 400, {1008: 100})]})

    entry = food_log(user_id=user.telegram_id, amount="100", unit="g", query="x")

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
        food_log(user_id=31337, amount="100", unit="g", query="banana")

    assert err.value.status == 404
    assert FoodEntry.objects.count() == 0


def test_parse_amount_reports_a_bad_number_before_a_bad_unit():
    with pytest.raises(ApplicationError) as err:
        parse_amount("lots", "of")

    assert err.value.message == BAD_AMOUNT
