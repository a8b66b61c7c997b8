"""The offline sample set says what it is in every "not found", and how to get live lookups."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("command", ["/food café au lait", "/food 🍌", "/food Äpfel", "/food 香蕉",
                                     "/log 1 cup café au lait", "/log 2 œufs"])
def test_not_found_in_the_sample_says_so_and_how_to_go_live(bot, command):
    reply = bot.say(command)
    assert "No food" in reply
    assert "offline sample data set" in reply
    assert "USDA_API_KEY" in reply and "NUTRITION_PROVIDER=usda" in reply


def test_live_lookups_do_not_mention_the_sample(bot, fake_fdc):
    fake_fdc.add(body={"foods": []})
    reply = bot.say("/food café au lait")
    assert "No foods found" in reply and "sample" not in reply and "USDA_API_KEY" not in reply
