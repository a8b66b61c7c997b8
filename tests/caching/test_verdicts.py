"""A shape check is skipped only for the very bytes that passed it (caching/backend/verdicts.py)."""

from __future__ import annotations

import orjson
import pytest

from caching.backend import verdicts


@pytest.fixture(autouse=True)
def _empty():
    verdicts.clear()
    yield
    verdicts.clear()


def counting(check):
    calls = []

    def valid(value):
        calls.append(value)
        return check(value)

    return valid, calls


def test_the_same_bytes_are_checked_once():
    valid, calls = counting(lambda v: type(v) is dict)
    raw = orjson.dumps({"a": 1})
    assert verdicts.passes("k", raw, orjson.loads(raw), valid)
    assert verdicts.passes("k", bytes(raw), orjson.loads(raw), valid)  # equal bytes, another object
    assert len(calls) == 1


def test_other_bytes_at_the_key_are_checked_and_refused():
    valid, calls = counting(lambda v: type(v) is dict)
    good, planted = orjson.dumps({"a": 1}), orjson.dumps([1])
    assert verdicts.passes("k", good, orjson.loads(good), valid)
    assert not verdicts.passes("k", planted, orjson.loads(planted), valid)
    assert not verdicts.passes("k", planted, orjson.loads(planted), valid)  # a refusal is never remembered
    assert len(calls) == 3


def test_a_verdict_counts_for_its_own_check_only():
    lenient, _ = counting(lambda v: True)
    strict, calls = counting(lambda v: type(v) is dict)
    raw = orjson.dumps([1])
    assert verdicts.passes("k", raw, orjson.loads(raw), lenient)
    assert not verdicts.passes("k", raw, orjson.loads(raw), strict)
    assert len(calls) == 1


def test_bounded(monkeypatch):
    monkeypatch.setattr(verdicts, "MAX_ENTRIES", 3)
    valid, calls = counting(lambda v: True)
    for i in range(10):
        assert verdicts.passes(f"k{i}", b"1", 1, valid)
    assert len(verdicts._passed) <= 3
