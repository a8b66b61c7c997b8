"""What the benchmark reports as the bytes of a history append (bench/hitpath_setup.append_bytes): the
same for a history of 1 message and of 50 — the append sends the new rows only (ARCHITECTURE.md §5.2)
— and the same turn otherwise: one round trip on commit, carrying the append alone."""

import itertools

import pytest

from bench.hitpath_setup import append_bytes
from bench.workload import Turn, telegram_update
from conversations.selectors import HISTORY_MAX, get_conversation_history
from conversations.updates import handle_update

pytestmark = pytest.mark.django_db(transaction=True)

# Names of the same length ("User1234", "User1235"): the reply greets the user by name.
LONG_USER, SHORT_USER = 5_001_234, 5_001_235


def test_an_append_sends_the_same_bytes_for_1_and_50_messages(settings):
    settings.NUTRITION_PROVIDER = "sample"
    settings.BOT_TURNS_PER_MINUTE = 100_000
    update_ids = itertools.count(1)
    for _ in range(HISTORY_MAX // 2):
        handle_update(telegram_update(Turn(LONG_USER, "text", "hello"), next(update_ids)))
    assert len(get_conversation_history(user_id=LONG_USER, limit=HISTORY_MAX)) == HISTORY_MAX
    result = append_bytes(update_ids, short_user=SHORT_USER, long_user=LONG_USER)
    short, long = result["1"], result["50"]
    assert (short["messages_before"], long["messages_before"]) == (1, HISTORY_MAX)
    assert short["round_trips"] == long["round_trips"] == 2  # the turn's MGET, its commit
    assert short["commit_commands"] == long["commit_commands"] == 1  # the append, nothing else
    assert short["append_bytes"] == long["append_bytes"] == short["commit_bytes"]
    assert short["turn_bytes"] == long["turn_bytes"]
