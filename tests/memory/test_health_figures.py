"""Health figures with care: implausible values are questioned, the target floor is explained,
and /start and /help carry a disclaimer."""

import pytest

from memory.energy import KCAL_FLOOR, bmi_line, daily_target

pytestmark = pytest.mark.django_db


def test_implausible_bmi_is_questioned_not_reported(bot):
    bot.say("/set height_cm 200")
    saved = bot.say("/set weight_kg 20")
    assert "Saved: weight 20 kg." in saved
    assert "BMI of 5.0, which isn't possible for an adult" in saved and "check your height" in saved
    profile = bot.say("/profile")
    assert "BMI 5.0" not in profile and "isn't possible" in profile
    assert "isn't possible" in bot.say("what's my bmi?")


def test_plausible_bmi_is_reported_with_its_range():
    assert bmi_line({"weight_kg": 70, "height_cm": 175}).startswith(
        "BMI 22.9 (within the usual healthy range of 18.5–25")
    assert "below the usual healthy range" in bmi_line({"weight_kg": 50, "height_cm": 175})


def test_implausible_bmi_gives_no_target():
    target = daily_target({"weight_kg": 20, "height_cm": 200, "age": 30, "sex": "male"})
    assert target.kcal is None and "isn't possible" in target.notes[0]


def test_elderly_woman_losing_weight_gets_the_floor_and_a_caution():
    # 80 years, 160 cm, 51.2 kg (BMI 20), goal lose: Mifflin-St Jeor gives 10*51.2 + 6.25*160 - 400
    # - 161 = 951 × 1.2 = 1141.2, −500 → 640 kcal, far below the floor.
    target = daily_target({"weight_kg": 51.2, "height_cm": 160, "age": 80, "sex": "female", "goal": "lose"})
    assert target.kcal == KCAL_FLOOR["female"] == 1200
    assert any("Over 65" in note and "doctor" in note for note in target.notes)
    assert any("The formula gives 640 kcal; I use 1200 kcal instead" in note for note in target.notes)


def test_target_below_floor_says_why_in_the_profile(bot):
    for command in ("/set sex female", "/set age 80", "/set height_cm 160", "/set weight_kg 51.2"):
        bot.say(command)
    saved = bot.say("/set goal lose")
    assert "Over 65" in saved and "1200 kcal instead" in saved
    profile = bot.say("/profile")
    assert "Daily target: 1200 kcal (estimated from your profile)" in profile
    assert "The formula gives 640 kcal" in profile


def test_losing_weight_when_underweight_takes_nothing_off():
    target = daily_target({"weight_kg": 50, "height_cm": 175, "age": 30, "sex": "male", "goal": "lose"})
    maintain = daily_target({"weight_kg": 50, "height_cm": 175, "age": 30, "sex": "male"})
    # BMI 16.3. 10*50 + 6.25*175 - 5*30 + 5 = 1448.75 × 1.2 = 1738.5 → 1740, with no −500 for "lose".
    assert target.kcal == maintain.kcal == 1740
    assert any("losing weight isn't advised" in note for note in target.notes)


def test_own_target_below_the_floor_is_kept_with_a_caution(bot):
    bot.say("/set sex male")
    saved = bot.say("/set kcal_target 900")
    assert "Saved: daily target 900 kcal." in saved
    assert "below 1500 kcal, the usual floor without medical supervision" in saved


def test_under_18_estimate_says_it_is_for_adults():
    target = daily_target({"weight_kg": 55, "height_cm": 165, "age": 15, "sex": "female"})
    assert any("made for adults" in note for note in target.notes)


@pytest.mark.parametrize("command", ["/start", "/help"])
def test_start_and_help_carry_a_disclaimer(bot, command):
    assert "I'm not a doctor" in bot.say(command) and "not medical advice" in bot.say(command)
