"""User memory: the selector's shape and the services' writes."""

from decimal import Decimal

import pytest

from healthagent.errors import ApplicationError
from memory.energy import bmi, daily_target
from memory.models import Preference, Profile
from memory.selectors import load_user_memory
from memory.services import preference_delete, preference_set, profile_ensure, profile_update, user_forget

pytestmark = pytest.mark.django_db


def test_load_user_memory_is_none_without_a_profile():
    assert load_user_memory(user_id=1) is None


def test_load_user_memory_returns_json_native_profile_and_preferences():
    profile_ensure(user_id=1, name="Ada", username="ada")
    profile_update(user_id=1, field="weight_kg", raw_value="70,5")
    preference_set(user_id=1, key="diet", value="vegan")
    memory = load_user_memory(user_id=1)
    assert memory["profile"]["name"] == "Ada"
    assert memory["profile"]["weight_kg"] == 70.5 and isinstance(memory["profile"]["weight_kg"], float)
    assert memory["preferences"] == {"diet": "vegan"}


def test_profile_ensure_with_known_profile_runs_no_query(django_assert_num_queries):
    profile_ensure(user_id=1, name="Ada", username="ada")
    known = load_user_memory(user_id=1)["profile"]
    with django_assert_num_queries(0):
        profile_ensure(user_id=1, name="Ada", username="ada", known=known)


def test_profile_ensure_tracks_username_but_keeps_a_chosen_name():
    profile_ensure(user_id=1, name="Ada", username="ada")
    profile_update(user_id=1, field="name", raw_value="Countess")
    profile_ensure(user_id=1, name="Ada", username="ada_l")
    profile = Profile.objects.get(pk=1)
    assert (profile.name, profile.username) == ("Countess", "ada_l")


def test_profile_update_validates_and_rounds():
    profile_ensure(user_id=1)
    profile = profile_update(user_id=1, field="Height_CM", raw_value="172.26")
    assert profile.height_cm == Decimal("172.3")
    with pytest.raises(ApplicationError, match="height_cm must be a number from 50 to 272"):
        profile_update(user_id=1, field="height_cm", raw_value="1e9")
    assert Profile.objects.get(pk=1).height_cm == profile.height_cm


def test_preferences_are_unique_per_user_and_updatable():
    profile_ensure(user_id=1)
    preference_set(user_id=1, key="diet", value="vegan")
    preference_set(user_id=1, key="DIET", value="  pescatarian  ")
    assert list(Preference.objects.values_list("key", "value")) == [("diet", "pescatarian")]
    assert preference_delete(user_id=1, key="diet") is True
    assert preference_delete(user_id=1, key="diet") is False


def test_forget_removes_profile_and_preferences():
    profile_ensure(user_id=1)
    preference_set(user_id=1, key="diet", value="vegan")
    user_forget(user_id=1)
    assert Profile.objects.count() == 0 and Preference.objects.count() == 0


def test_energy_helpers():
    assert bmi({"weight_kg": 81, "height_cm": 180}) == 25.0
    assert bmi({"weight_kg": 81}) is None
    assert daily_target({"kcal_target": 1800}).kcal == 1800
    target = daily_target({"weight_kg": 60, "height_cm": 165, "age": 40, "sex": "female"})
    # 10*60 + 6.25*165 - 5*40 - 161 = 1270.25; ×1.2 (sedentary default) = 1524.3 → 1520
    assert (target.kcal, target.source, target.notes) == (1520, "estimated from your profile", ())
    assert daily_target({"weight_kg": 60}).kcal is None
