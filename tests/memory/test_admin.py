"""The Django admin for the data: search, filters, read-only updates, the invalidation action, and
saves in the admin invalidating the cache exactly as the bot's writes do (through the receivers)."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from caching.keys import conversation_history_key, user_memory_key
from conversations.models import ProcessedUpdate
from memory.models import Preference, Profile
from memory.selectors import load_user_memory
from tests.factories import FoodEntryFactory, MessageFactory, PreferenceFactory, ProfileFactory

PROFILES = "/admin/memory/profile/"


def changelist_ids(response):
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def profile_form(profile: Profile, **changes) -> dict:
    """The change form as the admin posts it: every profile field and the preferences inline."""
    fields = ("name", "username", "age", "sex", "height_cm", "weight_kg", "activity", "goal", "kcal_target")
    data = {field: "" if getattr(profile, field) is None else getattr(profile, field) for field in fields}
    data["telegram_id"] = profile.pk
    preferences = list(profile.preferences.order_by("key"))
    data.update({
        "preferences-TOTAL_FORMS": len(preferences), "preferences-INITIAL_FORMS": len(preferences),
        "preferences-MIN_NUM_FORMS": 0, "preferences-MAX_NUM_FORMS": 1000,
    })
    for i, preference in enumerate(preferences):
        data.update({f"preferences-{i}-id": preference.pk, f"preferences-{i}-user": profile.pk,
                     f"preferences-{i}-key": preference.key, f"preferences-{i}-value": preference.value})
    data.update(changes)
    return data


# --- the data, browsable ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_profiles_are_searchable_by_telegram_id_and_username(admin_client):
    ada = ProfileFactory(telegram_id=4242, username="ada_l")
    ProfileFactory(telegram_id=42424242, username="grace")

    assert changelist_ids(admin_client.get(PROFILES, {"q": "4242"})) == [4242]  # exact id, not a prefix
    assert changelist_ids(admin_client.get(PROFILES, {"q": "ada_l"})) == [ada.pk]


@pytest.mark.django_db
def test_a_profile_shows_its_preferences_inline(admin_client):
    profile = ProfileFactory(telegram_id=42)
    PreferenceFactory(user=profile, key="diet", value="vegan")
    response = admin_client.get(f"{PROFILES}42/change/")
    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert [form.instance.key for form in inline.formset.forms if form.instance.pk] == ["diet"]


@pytest.mark.django_db
def test_messages_filter_by_role_helpful_and_date_and_search_their_text(admin_client):
    user = ProfileFactory(telegram_id=42)
    old = MessageFactory(user=user, role="user", content="banana bread", created_at=timezone.now() - datetime.timedelta(days=30))
    today = MessageFactory(user=user, role="assistant", content="I did not understand", helpful=False)
    MessageFactory(user=user, role="user", content="hello")
    url = "/admin/conversations/message/"

    assert changelist_ids(admin_client.get(url, {"role": "assistant"})) == [today.pk]
    assert changelist_ids(admin_client.get(url, {"helpful__exact": "0"})) == [today.pk]
    date_filter = next(spec for spec in admin_client.get(url).context["cl"].filter_specs
                       if getattr(spec, "field_path", "") == "created_at")
    past_week = next(choice for choice in date_filter.choices(admin_client.get(url).context["cl"])
                     if choice["display"] == "Past 7 days")
    assert old.pk not in changelist_ids(admin_client.get(url + past_week["query_string"]))
    assert today.pk in changelist_ids(admin_client.get(url + past_week["query_string"]))
    assert changelist_ids(admin_client.get(url, {"q": "banana"})) == [old.pk]


@pytest.mark.django_db
def test_food_entries_have_a_date_hierarchy(admin_client):
    entry = FoodEntryFactory(eaten_at=timezone.now())
    response = admin_client.get("/admin/nutrition/foodentry/", {"eaten_at__year": entry.eaten_at.year})
    assert response.status_code == 200
    assert response.context["cl"].date_hierarchy == "eaten_at"
    assert changelist_ids(response) == [entry.pk]


@pytest.mark.django_db
def test_processed_updates_are_read_only(admin_client):
    ProcessedUpdate.objects.create(update_id=9001, user_id=42, response={"text": "hi"})
    base = "/admin/conversations/processedupdate/"

    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}9001/change/").status_code == 200  # a view-only page
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}9001/change/", {"update_id": 9001, "user_id": 7}).status_code == 403
    assert admin_client.post(f"{base}9001/delete/", {"post": "yes"}).status_code == 403
    assert ProcessedUpdate.objects.get(pk=9001).user_id == 42


# --- the invalidation action ---------------------------------------------------------------------
@pytest.mark.django_db
def test_the_action_invalidates_the_selected_users_and_says_how_many_keys_went(admin_client):
    for user_id in (42, 43, 44):
        ProfileFactory(telegram_id=user_id)
        cache.set(user_memory_key(user_id), {"profile": {}, "preferences": {}})
    cache.set(conversation_history_key(42), [])

    response = admin_client.post(
        PROFILES, {"action": "invalidate_cached_data", "_selected_action": ["42", "43"]}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Invalidated cached data for 2 user(s): 3 key(s) removed."
    ]
    assert cache.get(user_memory_key(42)) is None
    assert cache.get(conversation_history_key(42)) is None
    assert cache.get(user_memory_key(43)) is None
    assert cache.get(user_memory_key(44)) is not None


# --- saves in the admin invalidate like the bot's writes (committed transactions) ------------------
def warm(user_id: int) -> dict:
    memory = load_user_memory(user_id=user_id)
    assert cache.get(user_memory_key(user_id)) == memory  # cached now
    return memory


@pytest.mark.django_db(transaction=True)
def test_saving_a_profile_in_the_admin_invalidates_its_cached_memory(admin_client, django_assert_num_queries):
    profile = ProfileFactory(telegram_id=42, name="Ada")
    assert warm(42)["profile"]["kcal_target"] is None

    response = admin_client.post(f"{PROFILES}42/change/", profile_form(profile, kcal_target=1900))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert cache.get(user_memory_key(42)) is None
    # Outside a bot turn, each read first asks whether an invalidation is pending (caching/consistency/fence.py).
    with django_assert_num_queries(4):  # that check, then profile, preferences and weights from the database
        assert load_user_memory(user_id=42)["profile"]["kcal_target"] == 1900
    with django_assert_num_queries(1):  # only the check: cached again
        assert load_user_memory(user_id=42)["profile"]["kcal_target"] == 1900


@pytest.mark.django_db(transaction=True)
def test_editing_adding_and_deleting_preferences_inline_invalidates(admin_client):
    profile = ProfileFactory(telegram_id=42)
    PreferenceFactory(user=profile, key="diet", value="vegan")
    PreferenceFactory(user=profile, key="units", value="metric")
    warm(42)

    edit = profile_form(profile, **{"preferences-0-value": "vegetarian", "preferences-1-DELETE": "on"})
    edit.update({"preferences-TOTAL_FORMS": 3, "preferences-2-user": 42,
                 "preferences-2-key": "allergy", "preferences-2-value": "peanuts"})
    assert admin_client.post(f"{PROFILES}42/change/", edit).status_code == 302

    assert cache.get(user_memory_key(42)) is None
    assert load_user_memory(user_id=42)["preferences"] == {"allergy": "peanuts", "diet": "vegetarian"}


@pytest.mark.django_db(transaction=True)
def test_a_preference_saved_on_its_own_admin_page_invalidates(admin_client):
    profile = ProfileFactory(telegram_id=42)
    preference = PreferenceFactory(user=profile, key="diet", value="vegan")
    warm(42)

    response = admin_client.post(f"/admin/memory/preference/{preference.pk}/change/",
                                 {"user": 42, "key": "diet", "value": "keto"})

    assert response.status_code == 302
    assert cache.get(user_memory_key(42)) is None
    assert load_user_memory(user_id=42)["preferences"] == {"diet": "keto"}
    assert Preference.objects.get(pk=preference.pk).value == "keto"


@pytest.mark.django_db(transaction=True)
def test_an_admin_save_that_fails_validation_leaves_the_cache_alone(admin_client):
    profile = ProfileFactory(telegram_id=42)
    warm(42)
    response = admin_client.post(f"{PROFILES}42/change/", profile_form(profile, kcal_target=5))  # below 800
    assert response.status_code == 200  # the form again, with its error
    assert cache.get(user_memory_key(42)) is not None
    assert Profile.objects.get(pk=42).kcal_target is None
