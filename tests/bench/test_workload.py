"""The webhook workload (bench/workload.py): same seed, same turns, everywhere; the shape the
benchmark claims (Zipf users and foods, the message mix)."""

import hashlib
import json
from collections import Counter

import pytest

from bench import workload
from bench.workload import DEFAULT_MIX, Zipf, food_names, request_lines, telegram_update, turns


def digest(batch):
    return hashlib.sha256("\n".join(f"{t.user_id} {t.kind} {t.text}" for t in batch).encode()).hexdigest()


def test_same_seed_same_turns():
    assert turns(seed=3, count=500) == turns(seed=3, count=500)


def test_the_turns_of_a_seed_never_change():
    # Pinned: a change here changes every published figure's workload (bump it knowingly).
    assert digest(turns(seed=1, count=200)) == "1f97ce7790a502e121eb188eddd568f4384944b4071f716d11c3065ab8983143"


def test_other_seed_other_turns():
    assert turns(seed=1, count=200) != turns(seed=2, count=200)


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    assert turns(seed=5, count=300) == turns(seed=5, count=1000)[:300]


def test_zipf_probabilities():
    zipf = Zipf(1000, 1.0)
    harmonic = sum(1 / r for r in range(1, 1001))
    assert sum(zipf.probability(r) for r in range(1, 1001)) == pytest.approx(1.0)
    assert zipf.probability(1) == pytest.approx(1 / harmonic)
    assert zipf.probability(10) == pytest.approx(zipf.probability(1) / 10)


def test_user_activity_follows_zipf():
    batch = turns(seed=11, count=30_000)
    counts = Counter(t.user_id for t in batch)
    top_rank_user = workload.user_ids(1000, 11)[0]
    expected = Zipf(1000, 1.0).probability(1)  # ≈ 13.4 %
    assert counts[top_rank_user] / len(batch) == pytest.approx(expected, abs=0.01)
    assert counts.most_common(1)[0][0] == top_rank_user
    assert set(counts) <= set(range(workload.FIRST_USER_ID, workload.FIRST_USER_ID + 1000))


def test_food_popularity_follows_zipf():
    batch = turns(seed=11, count=30_000)
    names = food_names(300)
    asked = Counter(t.text.removeprefix("/food ") for t in batch if t.kind == "food")
    assert len(names) == len(set(names)) == 300
    assert asked.most_common(1)[0][0] == names[0]
    share = asked[names[0]] / sum(asked.values())
    assert share == pytest.approx(Zipf(300, 1.0).probability(1), abs=0.02)


def test_message_mix():
    batch = turns(seed=4, count=20_000)
    kinds = Counter(t.kind for t in batch)
    total = sum(DEFAULT_MIX.values())
    for kind, weight in DEFAULT_MIX.items():
        assert kinds[kind] / len(batch) == pytest.approx(weight / total, abs=0.015), kind


def test_texts_are_the_commands_the_bot_knows():
    for turn in turns(seed=2, count=2000):
        if turn.kind == "text":
            assert not turn.text.startswith("/")
        else:
            command = {"food": "/food ", "log": "/log ", "today": "/today", "profile": "/profile", "set": "/set "}
            assert turn.text.startswith(command[turn.kind]), turn
        if turn.kind == "log":
            _, amount, unit, food = turn.text.split(maxsplit=3)
            assert 50 <= int(amount) <= 400 and unit == "g" and food in food_names(300)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown message kinds"):
        turns(seed=1, count=1, mix={"text": 1, "sticker": 1})


def test_request_lines_carry_the_update():
    batch = turns(seed=1, count=3)
    lines = list(request_lines(batch, first_update_id=100))
    assert len(lines) == 3
    for offset, (line, turn) in enumerate(zip(lines, batch)):
        kind, cold, body = line.split("\t")
        assert kind == turn.kind
        flags = cold.split("@")[0]
        assert flags == "-" or set(flags) <= {"u", "f"}
        update = json.loads(body)
        assert update == telegram_update(turn, 100 + offset)
        assert update["update_id"] == 100 + offset
        assert update["message"]["from"]["id"] == update["message"]["chat"]["id"] == turn.user_id
        assert update["message"]["text"] == turn.text


def test_cold_flags_mark_first_contacts_only():
    from bench.workload import Turn, cold_flags

    batch = [Turn(1, "text", "hi"), Turn(1, "food", "/food Apple"), Turn(2, "food", "/food apple"),
             Turn(2, "log", "/log 100 g apple"), Turn(1, "log", "/log 50 g  Apple")]
    assert cold_flags(batch) == ["u", "f", "u", "-", "-"]


def test_request_lines_name_the_line_of_each_cold_start():
    """replay.lua counts a turn sent before its user's (its food's) first turn was answered as cold."""
    from bench.workload import Turn

    batch = [Turn(1, "text", "hi"), Turn(1, "food", "/food Apple"), Turn(2, "food", "/food apple"),
             Turn(2, "log", "/log 100 g apple"), Turn(1, "log", "/log 50 g  Apple")]
    colds = [line.split("\t")[1] for line in request_lines(batch, first_update_id=1)]
    assert colds == ["u", "f@u1", "u@f2", "-@u3@f2", "-@u1@f2"]
    # A user whose first turn lies in an earlier batch (the warm-up) waits on nothing.
    later = [line.split("\t")[1] for line in request_lines(batch[3:], first_update_id=1, cold=["-", "-"])]
    assert later == ["-", "-"]


def test_free_text_that_logs_a_food_is_that_foods_lookup():
    from bench.workload import Turn, cold_flags

    batch = [Turn(1, "text", "I had a raw apple for lunch"), Turn(2, "food", "/food Raw apple"),
             Turn(2, "text", "is raw apple healthy?")]
    assert cold_flags(batch) == ["uf", "u", "-"]
    # "some" is no amount: the bot logs a usual portion of the food, after the same lookup
    assert cold_flags([Turn(1, "text", "just ate some cooked rice"), Turn(2, "food", "/food cooked rice"),
                       Turn(3, "text", "just ate some apple")]) == ["uf", "u", "uf"]
