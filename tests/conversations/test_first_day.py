"""A new user's first 20 messages, typed the way people type (offline sample data): the profile in
one sentence, a day of meals written freely, a question answered, corrections, questions about the
day, the weight twice. It ends with the diary and profile a person would expect.

Hand-computed (sample data, kcal per 100 g × grams): toast 2 slices 50 g × 266 = 133.0, butter
corrected to 10 g × 717 = 71.7, coffee 237 g × 1 = 2.4, a splash of milk 30.9 g × 61 = 18.8,
chicken breast 150 g × 165 = 247.5, rice a cup 158 g × 130 = 205.4, broccoli a cup 91 g × 34 = 30.9,
an apple 182 g × 52 = 94.6, a yogurt 170 g × 61 = 103.7, a teaspoon of honey 7.1 g × 304 = 21.6,
salmon 180 g × 206 = 370.8, pasta corrected to 100 g × 158 = 158.0, a slice of cheese 28 g × 403 =
112.8: 1571.2 kcal. Target: Mifflin-St Jeor for a woman of 34, 165 cm, 71.6 kg, lightly active,
losing: (716 + 1031.25 − 170 − 161) × 1.375 − 500 = 1447 → 1450 kcal.
"""

from decimal import Decimal

import pytest

from memory.models import Profile, WeightEntry
from nutrition.models import FoodEntry

pytestmark = pytest.mark.django_db

MESSAGES = [
    ("hi", "Hi Maria!"),  # Telegram's first name
    ("I'm Maria, 34, female, 165 cm and 72 kg. I want to lose weight",
     "Saved: name Maria, age 34 years, sex female, height 165 cm, weight 72 kg, goal lose."),
    ("I'm lightly active", "Saved: activity light."),
    ("I had 2 slices of toast with butter and a coffee with milk", "a pat of butter (5 g, usual with"),
    ("the butter was only 10 g", "Changed butter: 5 g → 10 g"),
    ("for lunch I had chicken breast 150g with rice and broccoli", "Logged 150 g chicken breast"),
    ("I had an apple", "Logged an apple (182 g)"),
    ("I had a yogurt with honey", "Logged 1 tsp of honey (7.1 g, usual with a yogurt)"),
    ("what did I eat today?", "Total:"),
    ("how much protein did I eat today?", "g of protein"),
    ("for dinner I had salmon", "❓ How much salmon?"),
    ("180 g", "Logged 180 g salmon"),
    ("I also had pasta with cheese", "Logged 1 cup of pasta (140 g, a usual portion)"),
    ("make that 100 g pasta", "Changed pasta: 140 g → 100 g"),
    ("how many calories are left?", "of 1450 kcal today"),
    ("my weight is 71.6 kg", "Saved: weight 71.6 kg."),
    ("how has my weight changed?", "−0.4 kg since"),
    ("I had a glass of red wine", "/food red wine"),
    ("/today", "Total: 1571 kcal"),
    ("/profile", "Daily target: 1450 kcal (estimated from your profile)"),
]

DIARY = [("Bread, white", 50), ("Butter", 10), ("Beverages, coffee", 237), ("Milk, whole", 30.9),
         ("Chicken, broilers or fryers, breast", 150), ("Rice, white", 158), ("Broccoli", 91), ("Apples", 182),
         ("Yogurt, plain", 170), ("Honey", 7.1), ("Fish, salmon", 180), ("Pasta, cooked", 100),
         ("Cheese, cheddar", 28)]
HAND_KCAL = Decimal("1571.2")


def test_a_new_users_first_twenty_messages(bot):
    assert len(MESSAGES) == 20
    for text, expected in MESSAGES:
        reply = bot.say(text, first_name="Maria")
        assert expected in reply, (text, reply)

    entries = list(FoodEntry.objects.filter(user_id=42).order_by("id"))
    assert [(e.description.split(" (")[0][:len(name)], float(e.grams)) for e, (name, _) in zip(entries, DIARY)] == [
        (name, float(grams)) for name, grams in DIARY]
    assert len(entries) == len(DIARY)
    total = sum(e.kcal for e in entries)
    assert abs(total - HAND_KCAL) <= HAND_KCAL * Decimal("0.10"), total
    assert abs(total - HAND_KCAL) <= 1, total  # and in fact to the kcal

    maria = Profile.objects.get(pk=42)
    assert (maria.name, maria.age, maria.sex, maria.height_cm, maria.weight_kg, maria.goal, maria.activity) == (
        "Maria", 34, "female", Decimal("165.0"), Decimal("71.6"), "lose", "light")
    assert maria.pending is None
    assert list(WeightEntry.objects.filter(user_id=42).order_by("id").values_list("kg", flat=True)) == [
        Decimal("72.0"), Decimal("71.6")]
