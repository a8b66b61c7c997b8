"""A scripted conversation of 200 turns over 20 users, through the webhook, read back with
`cache_stats --json` like an operator would: once each user has had a first turn, memory and
history are served from the cache, and no food query reaches FDC twice."""

from __future__ import annotations

import json
import random
from io import StringIO

import pytest
from django.core.management import call_command

from caching.backend import stats
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food

# Real commits: cache maintenance runs on commit, which a rolled-back test transaction never does.
pytestmark = pytest.mark.django_db(transaction=True)

USERS = list(range(101, 121))
FOODS = ["banana", "apple", "Banana", "oat milk", "brown rice", "  banana  "]
TURNS = [
    "hello", "/food {food}", "/profile", "what did I say before?", "/today", "/history 5",
    "/log 120 g {food}", "thanks", "/prefs", "I had a {food} today",
]


def _cache_stats() -> dict:
    out = StringIO()
    call_command("cache_stats", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_two_hundred_turns_twenty_users(bot, fake_fdc):
    fake_fdc.add(200, {"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    rng = random.Random(7)
    for user_id in USERS:  # each user's first turn: the cold start
        bot.say("/start", user_id=user_id)
    stats.flush()
    call_command("cache_stats", "--reset", stdout=StringIO())

    for turn in range(180):
        user_id = USERS[turn % len(USERS)]
        text = TURNS[(turn // len(USERS)) % len(TURNS)].format(food=rng.choice(FOODS))
        assert bot.say(text, user_id=user_id)
    stats.flush()
    namespaces = _cache_stats()["namespaces"]
    for namespace in ("user_memory", "conversation_history"):
        counts = namespaces[namespace]
        assert counts["hits"] + counts["misses"] >= 180, (namespace, counts)
        assert counts["hit_rate"] >= 0.95, (namespace, counts)
        assert counts["errors"] == 0
    # Queries differ only in case and spacing, and /food and /log share one lookup: one FDC call
    # per food ("banana", "apple", "oat milk", "brown rice"; "a banana" in free text is "banana").
    queries = {r.query["query"][0] for r in fake_fdc.requests}
    assert len(fake_fdc.requests) == len(queries) <= 4
    assert {r.query["pageSize"][0] for r in fake_fdc.requests} == {"5"}
