import hashlib
import hmac
import pickle
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from django.utils.safestring import SafeString, mark_safe
from hypothesis import given, settings
from hypothesis import strategies as st

from caching.backend import serializer
from caching.backend.serializer import RefusedValue


class _Exploit:
    """Unpickling this creates a file: proof that bytes were unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**63), 2**63 - 1, 1.5, "", "héllo", [], {}, [1, "a", None, [2.5]],
     {"name": "Ann", "prefs": {"units": "metric"}, "history": [{"role": "user", "text": "hi"}]}],
)
def test_json_native_values_are_stored_as_plain_json(value):
    stored = serializer.dumps(value)
    assert orjson.loads(stored) == value  # nothing but JSON in Redis
    assert serializer.loads(stored) == value


def test_an_int_is_stored_as_redis_counter_bytes():
    assert serializer.dumps(42) == b"42"  # so INCRBY works on it


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1: "a"}, 2**64, float("inf"), Decimal("1.10"), mark_safe("<b>x</b>"), {"a": (1,)}, {1, 2}],
)
def test_other_values_round_trip_exactly_through_signed_pickle(value):
    stored = serializer.dumps(value)
    assert stored[0] == 0x02
    restored = serializer.loads(stored)
    assert restored == value and type(restored) is type(value)


def test_nan_keeps_its_identity_instead_of_becoming_null():
    assert serializer.loads(serializer.dumps(float("nan"))) != serializer.loads(serializer.dumps(float("nan")))


def test_safe_string_stays_safe():
    assert isinstance(serializer.loads(serializer.dumps(SafeString("<i>x</i>"))), SafeString)


def test_bytes_round_trip_without_pickle():
    assert serializer.dumps(b"\x80\x00raw") == b"\x01\x80\x00raw"
    assert serializer.loads(serializer.dumps(b"\x80\x00raw")) == b"\x80\x00raw"


def test_unsigned_pickle_is_refused_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    for planted in (pickle.dumps(_Exploit(marker)), pickle.dumps(_Exploit(marker), protocol=0)):
        with pytest.raises(RefusedValue):
            serializer.loads(planted)
    assert not marker.exists()


def test_pickle_signed_with_another_secret_is_refused(tmp_path, settings):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Exploit(marker))
    wrong_key = hashlib.sha256(b"healthagent.caching.signed-pickle" + b"guessed-secret").digest()
    forged = b"\x02" + hmac.digest(wrong_key, payload, "sha256") + payload
    with pytest.raises(RefusedValue, match="signature"):
        serializer.loads(forged)
    with pytest.raises(RefusedValue):
        serializer.loads(b"\x02" + b"\x00" * 32 + payload)
    assert not marker.exists()


def test_values_signed_before_a_key_rotation_still_verify(settings):
    settings.SECRET_KEY = "old-secret"
    stored = serializer.dumps((1, 2))
    settings.SECRET_KEY = "new-secret"
    with pytest.raises(RefusedValue):
        serializer.loads(stored)
    settings.SECRET_KEY_FALLBACKS = ["old-secret"]
    assert serializer.loads(stored) == (1, 2)


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x07abc", b"{not json", b"\x02short"])
def test_corrupt_or_unknown_values_are_refused(raw):
    with pytest.raises(RefusedValue):
        serializer.loads(raw)


def test_unpicklable_values_raise_instead_of_being_swallowed():
    class Unpicklable:
        def __getstate__(self):
            raise pickle.PickleError("no")

    with pytest.raises(pickle.PickleError):
        serializer.dumps(Unpicklable())


def test_deep_nesting_falls_back_to_pickle():
    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert serializer.loads(serializer.dumps(deep)) == deep


# Any bytes at all, as someone with write access to Redis could plant them: a value or RefusedValue,
# never another exception (the data paths then check the value's shape: see test_planted_values.py).
@settings(max_examples=2000, derandomize=True, database=None)
@given(raw=st.binary(max_size=100) | st.builds(lambda tag, rest: bytes([tag]) + rest, st.integers(0, 12),
                                                st.binary(max_size=60)))
def test_any_bytes_load_or_are_refused(raw):
    try:
        serializer.loads(raw)
    except RefusedValue:
        pass


@pytest.mark.parametrize("raw", [b"\x02" + b"\x00" * 32, b"\x02" + b"\x00" * 33, b"\x03abc", b"\x08", b"\x80\x04N."])
def test_malformed_frames_are_refused(raw):
    with pytest.raises(RefusedValue):
        serializer.loads(raw)
