import pytest
from django.core.cache import cache

from caching.keys import (
    NAMESPACES,
    OTHER,
    SCHEMA_VERSION,
    conversation_history_key,
    namespace_of,
    usda_key,
    user_keys,
    user_memory_key,
)


def test_key_formats_match_the_design_table():
    assert user_memory_key(42) == "user_memory:{42}"
    assert conversation_history_key(42) == "conversation_history:{42}"
    key = usda_key("greek yogurt", 5)
    assert key.startswith("usda:") and key.endswith(":5")
    assert len(key.split(":")[1]) == 40  # a sha1 hex digest
    assert NAMESPACES == ("user_memory", "usda", "conversation_history", "progress", "agent")


def test_usda_key_is_short_printable_ascii_whatever_the_query():
    for query in ("crème brûlée 🍮", "a b\tc\n", "x" * 5000):
        key = usda_key(query, 25)
        assert key.isascii() and key.isprintable() and " " not in key and len(key) < 60
    assert usda_key("apple", 5) != usda_key("apple", 6) != usda_key("apples", 5)


def test_namespace_of_maps_unknown_keys_to_other():
    assert namespace_of(user_memory_key(1)) == "user_memory"
    assert namespace_of(usda_key("egg", 3)) == "usda"
    assert namespace_of("conversation_history:{9}") == "conversation_history"
    assert namespace_of("views.decorators.cache.cache_page.x") == OTHER
    assert namespace_of("user_memory_extra:{1}") == OTHER
    assert namespace_of(12345) == OTHER


def test_user_ids_must_be_ints():
    with pytest.raises(TypeError):
        user_memory_key("42")
    with pytest.raises(TypeError):
        conversation_history_key(True)
    assert user_keys(7) == ["user_memory:{7}", "conversation_history:{7}", "progress:{7}:week", "progress:{7}:month"]


def test_backend_adds_prefix_schema_and_version_in_one_place():
    assert cache.make_key(user_memory_key(42)) == f"ha:s{SCHEMA_VERSION}:1:user_memory:{{42}}"
    assert cache.make_key("k", version=3) == f"ha:s{SCHEMA_VERSION}:3:k"


def test_agent_keys_carry_every_context_version_and_share_only_context_free_answers():
    from caching.keys import agent_answer_key

    scope = {"question": "calories in a banana?", "model": "m", "prompt_version": "1", "day": "2026-12-03"}
    shared = agent_answer_key(**scope, user_id=None, context={})
    assert shared.startswith("agent:") and shared.isascii() and len(shared) < 60
    own = agent_answer_key(**scope, user_id=42, context={"memory": "a1"})
    assert own not in (shared, agent_answer_key(**scope, user_id=43, context={"memory": "a1"}),
                       agent_answer_key(**scope, user_id=42, context={"memory": "a2"}),
                       agent_answer_key(**scope, user_id=42, context={"memory": "a1", "diary": "d"}),
                       agent_answer_key(**{**scope, "model": "n"}, user_id=42, context={"memory": "a1"}),
                       agent_answer_key(**{**scope, "prompt_version": "2"}, user_id=42, context={"memory": "a1"}),
                       agent_answer_key(**{**scope, "day": "2026-12-04"}, user_id=42, context={"memory": "a1"}))
    assert namespace_of(own) == "agent"
