"""Free text as people write it: each phrase → the action the intent layer picks and what the reply
says, through the webhook, for a user with a profile, one diary entry and an earlier message.

The user: Ada, female, 30 years, 175 cm, 70 kg (BMI 22.9; target 1780 kcal: 10*70 + 6.25*175 − 5*30
− 161 = 1482.75 × 1.2 = 1779.3), who logged 100 g banana (89 kcal) and earlier said "I like tea".
"""

from decimal import Decimal

import pytest

from conversations.intents import classify
from conversations.models import Message
from memory.models import Profile
from nutrition.models import FoodEntry
from tests.factories import FoodEntryFactory, MessageFactory, ProfileFactory

pytestmark = pytest.mark.django_db

PHRASES = [
    # logging food
    ("I had 2 eggs for breakfast", "log_food", "Logged 2 eggs (100 g): <b>Egg, whole, raw, fresh</b> — 143 kcal"),
    ("I had 2 eggs and a coffee", "log_food", "Logged a coffee (237 g): <b>Beverages, coffee"),
    ("i ate a banana", "log_food", "Logged a banana (118 g): <b>Bananas, raw</b> — 105 kcal"),
    ("just had 100g rice", "log_food", "Logged 100 g rice: <b>Rice, white"),
    ("for lunch I had a slice of bread and 2 slices of cheese", "log_food", "Logged 2 slices of cheese (56 g)"),
    ("breakfast: porridge and a coffee", "log_food", "Logged 1 cup of porridge (234 g, a usual portion)"),
    ("I've eaten half an avocado", "log_food", "Logged half an avocado (75 g)"),
    ("had a glass of milk", "log_food", "Logged a glass of milk (258 g)"),
    ("I drank 250 ml orange juice this morning", "log_food", "Logged 250 ml of orange juice (262 g)"),
    ("log 2 eggs", "log_food", "Logged 2 eggs (100 g)"),
    ("I had 1 tbsp olive oil", "log_food", "Logged 1 tbsp of olive oil (13.5 g): <b>Oil, olive, salad or cooking</b>"),
    ("I had eggs for breakfast and toast for lunch", "log_food", "Logged a slice of toast (25 g, a usual portion)"),
    ("had a coffee with my friend", "log_food", "Logged a coffee (237 g)"),
    ("we had pasta for dinner", "log_food", "Logged 1 cup of pasta (140 g, a usual portion)"),
    ("I had 250 ml chicken", "log_food", "❓ How many grams of chicken was that? (I can't turn 250 ml of chicken"),
    ("I had a great day", "log_food", "I couldn't find “a great day” in the food data, so I logged nothing"),
    # stating profile facts: saved, with confirmation
    ("my weight is 82 kg", "set", "Saved: weight 82 kg."),
    ("I weigh 180 lbs", "set", "Saved: weight 81.6 kg."),
    ("i'm 82kg", "set", "Saved: weight 82 kg."),
    ("weight: 75.5", "set", "Saved: weight 75.5 kg."),
    ("my weight is 900 kg", "set", "weight_kg must be a number from 20 to 400 kg"),
    ("my height is 172 cm", "set", "Saved: height 172 cm."),
    ("I'm 1.72 m tall", "set", "Saved: height 172 cm."),
    ("I'm 5'8\"", "set", "Saved: height 172.7 cm."),
    ("I am 34 years old", "set", "Saved: age 34 years."),
    ("I'm 34", "set", "Saved: age 34 years."),
    ("my age is 40", "set", "Saved: age 40 years."),
    ("I'm a woman", "set", "Saved: sex female."),
    ("I am male", "set", "Saved: sex male."),
    ("I want to lose weight", "set", "Saved: goal lose."),
    ("my goal is to gain weight", "set", "Saved: goal gain."),
    ("I'd like to maintain my weight", "set", "Saved: goal maintain."),
    ("I'm very active", "set", "Saved: activity very active."),
    ("I am sedentary", "set", "Saved: activity sedentary."),
    ("my name is Alex", "set", "Saved: name Alex."),
    ("call me Sam", "set", "Saved: name Sam."),
    ("my time zone is Europe/Berlin", "set", "Saved: time zone Europe/Berlin."),
    # the diary
    ("what did I eat today?", "diary", "1. 100 g Bananas, raw — 89 kcal"),
    ("what did I eat yesterday", "diary", "Nothing logged yesterday."),
    ("What have I eaten today", "diary", "Total: 89 kcal"),
    ("show my diary", "diary", "1. 100 g Bananas, raw"),
    ("diary", "diary", "Target: 1780 kcal (estimated from your profile) — 1691 kcal left"),
    # what is left, the target
    ("how many calories left", "calories_left", "You've had 89 of 1780 kcal today: 1691 kcal left."),
    ("how many calories do I have left today?", "calories_left", "1691 kcal left"),
    ("how much more can I eat today", "calories_left", "1691 kcal left"),
    ("am I over my target?", "calories_left", "1691 kcal left"),
    ("how many calories should I eat", "target", "Your daily target is 1780 kcal (estimated from your profile)."),
    ("what's my daily target", "target", "1780 kcal"),
    ("what is my calorie goal", "target", "1780 kcal"),
    # BMI
    ("what's my bmi?", "bmi", "With 70 kg at 175 cm: BMI 22.9 (within the usual healthy range"),
    ("am I overweight?", "bmi", "BMI 22.9"),
    ("how is my weight?", "bmi", "BMI 22.9"),
    # what was said (not a command)
    ("what did I say before?", "said_before", "Earlier you said: “I like tea”"),
    ("what did I just say", "said_before", "Earlier you said: “I like tea”"),
    ("what was my last message", "said_before", "“I like tea”"),
    # food questions
    ("how many calories in a banana", "food_info", "a banana (118 g) of <b>Bananas, raw</b>: about 105 kcal."),
    ("calories in 2 eggs", "food_info", "about 143 kcal"),
    ("how much protein does chicken have", "food_info", "<b>Per 100 g</b>, top matches for “chicken”"),
    ("how many calories in café au lait", "food_info", "only searched the offline sample data set"),
    # taking the last entry back
    ("undo", "undo", "Removed 100 g Bananas, raw, 89 kcal."),
    ("delete that", "undo", "Removed 100 g Bananas, raw"),
    ("remove the last entry", "undo", "Removed 100 g Bananas, raw"),
    # the rest
    ("what can you do", "help", "<b>What I can do</b>"),
    ("help", "help", "/undo"),
    ("hello!", "greeting", "Hi Ada!"),
    ("good morning", "greeting", "Hi Ada!"),
    ("hey there", "greeting", "Hi Ada!"),
    ("thanks", "thanks", "You're welcome, Ada!"),
    ("thank you so much", "thanks", "You're welcome, Ada!"),
    ("I want chicken", "food_mention", "/food chicken"),
    ("banana?", "food_mention", "Tell me “I had 1 banana”"),
    ("blorp zzz", "unknown", "Sorry, I didn't understand that. I can log food"),
    ("café au lait 😀", "unknown", "Send /help for everything"),
    ("I'm tired", "unknown", "didn't understand"),
    ("is it going to rain", "unknown", "didn't understand"),
]


@pytest.fixture
def ada():
    user = ProfileFactory(telegram_id=42, name="Ada", username="ada", sex="female", age=30,
                          height_cm=Decimal("175"), weight_kg=Decimal("70"))
    FoodEntryFactory(user=user, grams=Decimal("100.0"), kcal=Decimal("89.0"), protein=Decimal("1.1"),
                     fat=Decimal("0.3"), carbs=Decimal("22.8"))
    MessageFactory(user=user, content="I like tea")
    MessageFactory(user=user, content="/today")  # a command: not what "what did I say" means
    return user


def test_the_table_is_big_enough():
    assert len(PHRASES) >= 60
    assert len({phrase for phrase, *_ in PHRASES}) == len(PHRASES)


@pytest.mark.parametrize(("phrase", "action", "expected"), PHRASES, ids=[p for p, *_ in PHRASES])
def test_phrase(bot, ada, phrase, action, expected):
    assert classify(phrase).action == action
    reply = bot.say(phrase)
    assert expected in reply
    helpful = Message.objects.filter(role="assistant").latest("id").helpful
    assert helpful is (action != "unknown" and "logged nothing" not in reply)


def test_stated_weight_is_saved_and_read_back(bot, ada):
    bot.say("my weight is 82 kg")
    assert Profile.objects.get(pk=42).weight_kg == Decimal("82.0")
    assert "Weight: 82 kg" in bot.say("/profile")  # through the cached memory, kept fresh on commit


def test_company_is_not_logged_as_food(bot, ada):
    reply = bot.say("had a coffee with my friend")
    assert "friend" not in reply and FoodEntry.objects.count() == 2


def test_unknown_stored_time_zone_falls_back(bot, ada):
    Profile.objects.filter(pk=42).update(tz="Mars/Olympus")  # e.g. a zone since renamed
    assert "1. 100 g Bananas, raw" in bot.say("/today")


def test_free_text_logs_every_item_and_undo_takes_the_last(bot, ada):
    reply = bot.say("I had 2 eggs and a coffee")
    assert "Logged 2 eggs (100 g)" in reply and "Logged a coffee (237 g)" in reply and "/undo" in reply
    assert FoodEntry.objects.count() == 3
    bot.say("/undo")
    assert list(FoodEntry.objects.order_by("id").values_list("description", flat=True)) == [
        "Bananas, raw", "Egg, whole, raw, fresh"]


def test_random_text_always_gets_a_reply(bot, ada):
    """Seeded random mixes of the words the intent layer looks for: every message is answered
    (200, a sendMessage) and nothing raises; long messages are classified too."""
    import random

    words = ("i had ate 2 1/2 ½ a an half of cup tbsp ml g kg lbs my weight is i'm tall cm m years "
             "old what did eat say today yesterday calories left target bmi undo and with , . ? ! 😀 "
             "café banana eggs coffee rice 1e2 -5 0 999999 '' \" / @ for breakfast lunch").split()
    rng = random.Random(15)
    for _ in range(150):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        assert bot.say(text)
    assert len(classify("i had " + "1 and " * 700 + "x").args["items"]) == 701
    assert classify("my name is " + "a" * 4000).action == "unknown"  # a name is at most 41 characters
    before = FoodEntry.objects.count()
    assert "only the first 8" in bot.say("I had " + ", ".join(["a banana"] * 20))
    assert FoodEntry.objects.count() - before == 8
