"""No stale reads when Redis loses keys (eviction) or misses invalidations (an outage)."""

from __future__ import annotations

import random
import time

import pytest

from caching.backend.breaker import breaker_state
from caching.models import PendingInvalidation
from conversations.selectors import get_conversation_history
from conversations.services import message_save
from memory.selectors import load_user_memory
from memory.services import preference_set, profile_ensure, profile_update

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis_server]
USERS = range(1, 31)


def test_eviction_under_churn_never_serves_stale(redis_server, use_redis):
    """A Redis far too small for the working set, evicting any key (values and tokens alike)."""
    cache = use_redis(redis_server.url)
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    redis_server.cli("CONFIG", "SET", "maxmemory", "1200000")
    rng = random.Random(3)
    weights: dict[int, float] = {}
    said: dict[int, str] = {}
    for user_id in USERS:
        profile_ensure(user_id=user_id)
    stale = []
    for step in range(1500):
        user_id = rng.choice(USERS)
        action = rng.random()
        if action < 0.25:
            weights[user_id] = float(rng.randint(40, 300))
            profile_update(user_id=user_id, field="weight_kg", raw_value=str(weights[user_id]))
        elif action < 0.5:
            said[user_id] = f"step {step} " + "x" * rng.randint(100, 2000)  # bulky: forces eviction
            message_save(user_id=user_id, role="user", content=said[user_id])
        elif action < 0.6:
            # Unrelated bulk to keep memory pressure on.
            cache.set(f"ballast:{step}", "y" * 5000, 60)
        seen_weight = load_user_memory(user_id=user_id)["profile"]["weight_kg"]
        if seen_weight != weights.get(user_id):
            stale.append(("weight", step, user_id, seen_weight, weights.get(user_id)))
        if user_id in said:
            latest = get_conversation_history(user_id=user_id, limit=1)
            if [m["content"] for m in latest] != [said[user_id]]:
                stale.append(("history", step, user_id))
    evicted = int(redis_server.cli("INFO", "stats").split("evicted_keys:")[1].split()[0])
    assert evicted > 0, "the test did not make Redis evict anything"
    assert stale == []


def _wait_for_breaker(state: str, poke) -> None:
    for _ in range(100):
        poke()
        if breaker_state() == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"breaker never became {state}")


def test_writes_during_an_outage_leave_nothing_stale(redis_server, use_redis):
    """Redis hangs (SIGSTOP: its data survives) while profiles, preferences and history change;
    when it answers again, not one pre-outage value is served."""
    use_redis(redis_server.url, BREAKER_FAILURES=1, BREAKER_COOLDOWN=0.2, SOCKET_TIMEOUT=0.1,
              SOCKET_CONNECT_TIMEOUT=0.1)
    for user_id in USERS:
        profile_ensure(user_id=user_id)
        message_save(user_id=user_id, role="user", content="before")
        assert load_user_memory(user_id=user_id)["profile"]["weight_kg"] is None  # cached
        assert len(get_conversation_history(user_id=user_id, limit=5)) == 1  # cached

    redis_server.pause()
    try:
        for user_id in USERS:
            profile_update(user_id=user_id, field="weight_kg", raw_value="80")
            preference_set(user_id=user_id, key="diet", value="vegan")
            message_save(user_id=user_id, role="user", content="during")
        assert breaker_state() == "open"
        # While Redis is away, reads come from the database: already right.
        assert load_user_memory(user_id=1)["profile"]["weight_kg"] == 80.0
        assert PendingInvalidation.objects.pending().count() >= len(USERS)
    finally:
        redis_server.resume()

    _wait_for_breaker("closed", lambda: load_user_memory(user_id=1))
    stale = []
    for user_id in USERS:
        memory = load_user_memory(user_id=user_id)
        if memory["profile"]["weight_kg"] != 80.0 or memory["preferences"] != {"diet": "vegan"}:
            stale.append(("memory", user_id, memory))
        history = [m["content"] for m in get_conversation_history(user_id=user_id, limit=5)]
        if history != ["before", "during"]:
            stale.append(("history", user_id, history))
    assert stale == []
    assert PendingInvalidation.objects.pending().count() == 0
