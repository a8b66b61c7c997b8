"""No amount crashes a turn: /log and free text with generated numbers, units and foods, amounts
before and after the food. Every turn is answered (200, a reply), and what is logged is within
what one entry may hold. The crash this pins: `/log 99999999999999999999999999999 g banana` raised
decimal.InvalidOperation in nutrition.portions.grams_of (an HTTP 500 Telegram redelivers forever)."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from healthagent.errors import ApplicationError
from nutrition.amounts import Amount
from nutrition.models import FoodEntry
from nutrition.portions import MAX_GRAMS, grams_of

pytestmark = pytest.mark.django_db

NUMBERS = st.one_of(
    st.integers(min_value=-10, max_value=10**40).map(str),
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.fractions(max_denominator=10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e400", "1E-400", "nan", "inf", "-0", "0", "0.00001", "½", "1/0", "1,5", "1.5.5", "٣", "²",
                     "9" * 60, "0." + "0" * 60 + "1", "2 1/2", ".5", "12.", "a", "half", "a couple of", "some"]),
)
UNITS = st.sampled_from(["", "g", "kg", "oz", "lb", "ml", "l", "cup", "cups", "tbsp", "tsp", "glass", "pat", "splash",
                         "slice", "slices", "bowl", "handful", "piece", "x", "gramm", "e5"])
FOODS = st.sampled_from(["banana", "butter", "chicken breast", "rice", "milk", "eggs", "toast with butter",
                         "coffee with milk", "mystery powder", "red wine", ""])


@st.composite
def messages(draw) -> str:
    number, unit, food = draw(NUMBERS), draw(UNITS), draw(FOODS)
    amount = f"{number}{draw(st.sampled_from(['', ' ']))}{unit}".strip()
    phrase = f"{food} {amount}" if draw(st.booleans()) else f"{amount} {food}"
    return draw(st.sampled_from(["/log {}", "I had {}", "the butter was {}", "no, {}", "{}"])).format(phrase.strip())


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=messages())
@example(text="/log 99999999999999999999999999999 g banana")
@example(text="/log 9999999999999999999999999 cups milk")
@example(text="I had 99999999999999999999999999999 eggs")
@example(text="/log 1e400 g banana")
@example(text="I had chicken breast 1e30g")
@example(text="/log 0." + "0" * 40 + "1 kg rice")
def test_any_amount_gets_a_reply_and_no_impossible_entry(bot, text):
    reply = bot.say(text)
    assert reply.strip()
    for entry in FoodEntry.objects.all():
        assert 0 < entry.grams <= MAX_GRAMS, (text, entry.grams)


def test_the_old_crash_is_refused_with_a_reply(bot):
    bot.say("/start")
    reply = bot.say("/log 99999999999999999999999999999 g banana")
    assert "far more than one entry can be" in reply
    assert FoodEntry.objects.count() == 0


@pytest.mark.parametrize("quantity", [Decimal("1e30"), Decimal("1e400"), Decimal("Infinity"), Decimal("NaN")])
def test_grams_of_refuses_what_it_cannot_weigh_instead_of_raising_decimal_errors(quantity):
    food = {"description": "Bananas, raw", "portions": {}}
    for amount in (Amount(quantity=quantity, unit="g", factor=Decimal(1), text="x"),
                   Amount(quantity=quantity, unit="item", text="x"),
                   Amount(quantity=quantity, unit="ml", factor=Decimal(1), text="x")):
        with pytest.raises(ApplicationError):
            grams_of(amount, food=food, query="banana")
