"""Every bot command through the webhook, with the validation messages users see."""

import pytest

from conversations.models import Message
from memory.models import Preference, Profile
from nutrition.models import FoodEntry

pytestmark = pytest.mark.django_db


def test_start_greets_by_name_and_lists_commands(bot):
    reply = bot.say("/start", first_name="Grace")
    assert "Hi Grace" in reply
    for command in ("/profile", "/set", "/pref", "/food", "/log", "/today", "/history", "/forget"):
        assert command in reply
    assert Profile.objects.get(pk=42).name == "Grace"


def test_help_lists_commands(bot):
    reply = bot.say("/help")
    assert "/log &lt;amount&gt; &lt;food&gt;" in reply
    for command in ("/undo", "/delete N", "/today", "/forget"):
        assert command in reply


def test_start_with_bot_suffix_in_group_chats(bot):
    assert "Hi Ada" in bot.say("/start@HealthAgentBot")


def test_set_then_profile_shows_the_values(bot):
    assert bot.say("/set weight_kg 70") == "Saved: weight 70 kg."
    bot.say("/set height_cm 175")
    bot.say("/set age 30")
    bot.say("/set sex male")
    bot.say("/set activity Very active")
    bot.say("/set goal lose")
    reply = bot.say("/profile")
    # Human names, not internal ones.
    assert "Weight: 70 kg" in reply and "weight_kg:" not in reply
    assert "Height: 175 cm" in reply
    assert "Activity: very active" in reply
    assert "BMI 22.9 (within the usual healthy range" in reply
    # Mifflin-St Jeor: 10*70 + 6.25*175 - 5*30 + 5 = 1648.75; ×1.9 = 3132.6; −500 → 2630
    assert "Daily target: 2630 kcal (estimated from your profile)" in reply
    bot.say("/set kcal_target 2000")
    assert "Daily target: 2000 kcal (your target)" in bot.say("/profile")


@pytest.mark.parametrize("command, field, value", [
    ("/set weight 70", "weight_kg", 70), ("/set Height 172", "height_cm", 172),
    ("/set timezone europe/berlin", "tz", "Europe/Berlin"), ("/set target 1900", "kcal_target", 1900),
])
def test_set_takes_the_names_people_type_for_a_field(bot, command, field, value):
    bot.say("/start")
    assert bot.say(command).startswith("Saved:")
    assert getattr(Profile.objects.get(pk=42), field) == value


@pytest.mark.parametrize("command, expected", [
    ("/set age abc", "age must be a whole number from 13 to 120 years"),
    ("/set age -5", "age must be a whole number from 13 to 120 years"),
    ("/set age 30.5", "age must be a whole number"),
    ("/set height_cm 9999", "height_cm must be a number from 50 to 272 cm"),
    ("/set weight_kg nan", "weight_kg must be a number from 20 to 400 kg"),
    ("/set weight_kg Infinity", "weight_kg must be a number"),
    ("/set sex robot", "sex must be one of: male, female, other"),
    ("/set goal fly", "goal must be one of: lose, maintain, gain"),
    ("/set kcal_target 50", "kcal_target must be a whole number from 800 to 10000"),
    ("/set shoe_size 44", "I can't set 'shoe_size'"),
    ("/set", "Usage: /set &lt;field&gt; &lt;value&gt;"),
    ("/set age", "Give a value, e.g. /set age 34"),
    ("/set name " + "x" * 101, "name must be 1 to 100 characters"),
])
def test_set_rejects_bad_values_with_what_is_accepted(bot, command, expected):
    bot.say("/start")
    assert expected in bot.say(command)
    profile = Profile.objects.get(pk=42)
    assert profile.age is None and profile.height_cm is None and profile.weight_kg is None and profile.sex == ""


def test_pref_prefs_and_removal(bot):
    assert bot.say("/pref diet vegetarian") == "Noted: diet = vegetarian"
    bot.say("/pref coffee black, no sugar")
    assert bot.say("/prefs") == "<b>Your preferences</b>\ncoffee: black, no sugar\ndiet: vegetarian"
    assert bot.say("/pref diet -") == "Removed diet."
    assert list(Preference.objects.values_list("key", flat=True)) == ["coffee"]

@pytest.mark.parametrize("command, expected", [
    ("/pref", "Usage: /pref &lt;key&gt; &lt;value&gt;"),
    ("/pref Diet!! x", "A preference key is 1-32 lowercase letters"),
    ("/pref diet", "Give a value, e.g. /pref diet vegetarian"),
    ("/pref diet " + "v" * 201, "at most 200 characters"),
])
def test_pref_rejects_bad_input(bot, command, expected):
    assert expected in bot.say(command)
    assert Preference.objects.count() == 0


def test_food_lists_matches_per_100g_labelled_as_sample(bot):
    reply = bot.say("/food banana")
    assert "Per 100 g" in reply
    assert "Banana" in reply
    assert "kcal" in reply and "P " in reply and "F " in reply and "C " in reply
    assert "Sample data" in reply


def test_food_without_query_or_unknown_food(bot):
    assert "Tell me what to look up" in bot.say("/food")
    assert "No foods found" in bot.say("/food qwertyuiopasdf")
    assert "100" in bot.say("/food " + "a" * 150)


def test_log_and_today_totals_against_target(bot):
    bot.say("/set kcal_target 2000")
    reply = bot.say("/log 120 g banana")
    assert reply.startswith("Logged 120 g banana: <b>Banana")
    assert "107 kcal" in reply and "/undo to remove it" in reply
    entry = FoodEntry.objects.get()
    assert float(entry.grams) == 120.0 and entry.kcal > 0
    bot.say("/log 0.2 kg apple")
    today = bot.say("/today")
    assert "Banana" in today and "Apple" in today
    total = sum(float(e.kcal) for e in FoodEntry.objects.all())
    assert f"Total: {total:.0f} kcal" in today
    assert f"Target: 2000 kcal (your target) — {2000 - total:.0f} kcal left" in today


@pytest.mark.parametrize("command, expected", [
    ("/log lots of banana", "How much is “lots”?"),
    ("/log 150 banana", "Did you mean grams? Then send /log 150 g banana"),
    ("/log", "Tell me what and how much"),
    ("/log -5 g banana", "Amount must be"),
    ("/log 1e2 g banana", "Amount must be a plain number"),
    ("/log 0 g banana", "more than 0"),
    ("/log 150 stone banana", "Did you mean grams?"),
    ("/log 99999 g banana", "more than 5 kg"),
    ("/log 100 g qwertyuiopasdf", "nothing logged"),
    ("/log 250 ml chicken", "I don't know how dense it is"),
])
def test_log_rejects_bad_input_and_stores_nothing(bot, command, expected):
    assert expected in bot.say(command)
    assert FoodEntry.objects.count() == 0


def test_today_when_nothing_logged(bot):
    reply = bot.say("/today")
    assert "Nothing logged today yet" in reply
    assert ("No daily target yet: tell me your weight, height, age and sex (/set weight_kg 70, "
            "/set height_cm 172, /set age 34, /set sex female), or set your own with /set kcal_target 2000."
            in reply)


def test_history_shows_recent_messages_without_unhelpful_replies(bot):
    bot.say("/pref diet vegan")
    bot.say("blorp zzz")  # not understood: its reply is flagged unhelpful
    assert Message.objects.filter(helpful=False).count() == 1
    reply = bot.say("/history 5")
    assert "/pref diet vegan" in reply and "Noted: diet = vegan" in reply
    assert "blorp zzz" in reply
    assert "didn't understand" not in reply
    assert "/history 5" not in reply


@pytest.mark.parametrize("arg", ["0", "51", "abc", "-1", "2.5"])
def test_history_rejects_bad_n(bot, arg):
    assert "n a whole number from 1 to 50" in bot.say(f"/history {arg}")


def test_forget_deletes_everything(bot):
    bot.say("/set weight_kg 80")
    bot.say("/pref diet vegan")
    bot.say("/log 100 g banana")
    asked = bot.say("/forget")
    assert "can't be undone" in asked and "/forget yes" in asked
    assert Profile.objects.filter(pk=42).exists() and FoodEntry.objects.count() == 1
    assert "deleted" in bot.say("/forget yes")
    assert not Profile.objects.filter(pk=42).exists()
    assert Message.objects.count() == 0 and Preference.objects.count() == 0 and FoodEntry.objects.count() == 0
    assert "Weight: —" in bot.say("/profile")


def test_unknown_command_is_flagged_unhelpful(bot):
    assert "I don't know /dance" in bot.say("/dance")
    assert Message.objects.get(role="assistant").helpful is False


@pytest.mark.parametrize("text, expected", [
    ("hello!", "Hi Ada"),
    ("I had a banana for breakfast", "Logged a banana (118 g)"),
    ("banana?", "/food banana"),
    ("what's my bmi?", "I need your height and weight"),
    ("how many calories should I eat", "To work out a daily target"),
    ("thanks", "You're welcome"),
])
def test_free_text_is_answered_usefully(bot, text, expected):
    assert expected in bot.say(text)
    assert Message.objects.get(role="assistant").helpful is True


def test_free_text_uses_memory_and_history(bot):
    bot.say("/set weight_kg 70")
    bot.say("/set height_cm 175")
    assert "BMI 22.9" in bot.say("how is my weight?")
    bot.say("/pref diet vegetarian")
    assert "vegetarian" in bot.say("I want chicken")
    assert "Earlier you said: “I want chicken”" in bot.say("what did I say before?")
