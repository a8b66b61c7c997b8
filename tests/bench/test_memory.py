"""Part 4's bookkeeping: which key belongs to which namespace and user (bench/memory.py)."""

import pytest

from bench.memory import classify, tally, users_in


def test_classify():
    assert classify(b"ha:s1:1:user_memory:{42}") == ("user_memory", 42, False)
    assert classify(b"ha:s1:1:conversation_history:{42}:token") == ("conversation_history", 42, True)
    assert classify(b"ha:s1:1:usda:0123abcd:5") == ("usda", None, False)
    assert classify(b"ha:stats") is None
    assert classify(b"healthagent-bench:owner") is None


def test_tally_per_namespace_and_user():
    sizes = {
        b"ha:s1:1:user_memory:{1}": 300, b"ha:s1:1:user_memory:{1}:token": 100,
        b"ha:s1:1:conversation_history:{1}": 2000, b"ha:s1:1:conversation_history:{1}:token": 100,
        b"ha:s1:1:conversation_history:{2}:token": 100,  # invalidated: a token, no value
        b"ha:s1:1:usda:abc:5": 1500, b"ha:stats": 999,
    }
    result = tally(sizes)
    assert result["active_users"] == 2
    assert result["namespaces"]["user_memory"] == {"entries": 1, "entry_bytes": 300, "tokens": 1, "token_bytes": 100}
    assert result["namespaces"]["usda"]["entry_bytes"] == 1500
    assert result["bytes_per_active_user"] == (300 + 100 + 2000 + 100 + 100) / 2


def test_users_in_a_budget():
    assert users_in(1000, per_user=100) == 10
    assert users_in(1000, per_user=100, shared=250) == 7
    assert users_in(100, per_user=100, shared=250) == 0
    with pytest.raises(ValueError):
        users_in(100, per_user=0)
