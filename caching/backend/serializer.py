"""How values are stored in Redis: JSON when the value is JSON, signed pickle otherwise (ARCHITECTURE.md §5.5).

Three formats, told apart by the first byte:
- JSON (orjson), stored bare. Application data is plain dicts/lists/str/int/float/bool/None, so
  this is nearly every value, and the hit path is one `orjson.loads`. Bare JSON also makes an int
  the same bytes Redis uses for counters, so INCRBY works on it (`cache.incr`).
- `\\x01` + raw bytes, for `bytes` values (JSON has no bytes; pickling them would be wasteful).
- `\\x02` + HMAC-SHA256 + pickle, for everything else Django's contract lets callers store (model
  instances, tuples, responses). The MAC key is derived from DJANGO_SECRET_KEY, so a value planted
  by anyone who can write to Redis but does not know the secret is refused — never unpickled.

JSON text never starts with a byte below 0x09, so the tags cannot be mistaken for JSON.

With a COMPRESSOR configured (django-redis's compressor classes, cache OPTIONS), a value of at least
COMPRESS_MIN_BYTES whose compressed form is smaller is stored as `\x03` + the compressed bytes of
one of the formats above. Short values (counters among them: INCRBY needs them bare) never are.
A compressed value read without the compressor that wrote it is refused (a miss), never guessed at.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import pickle
from typing import Any

import orjson
from django.conf import settings

_BYTES = 0x01
_SIGNED_PICKLE = 0x02
_COMPRESSED = 0x03
# Below this a value is read more often than its size matters: a food lookup's five foods (1.4 KB of
# JSON) took 1.5 µs of lz4 on every hit, 4 % of it, to save 0.8 KB an entry (BENCHMARKS.md, "Compression").
COMPRESS_MIN_BYTES = 4096
_IDENTITY = "django_redis.compressors.identity.IdentityCompressor"
_compressor: Any = None  # process-wide: values are shared by every process and alias
_MAC_SIZE = 32
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# orjson refuses nesting deeper than 254; stopping earlier keeps the check's recursion shallow.
_MAX_JSON_DEPTH = 200
_KEY_SALT = b"healthagent.caching.signed-pickle"


class RefusedValue(Exception):
    """A stored value that must not be trusted: bad signature, unknown format or corrupt JSON."""


def use_compressor(path: str | None, options: dict[str, Any]) -> None:
    """Compress values with django-redis's compressor class at `path` (None: do not compress)."""
    global _compressor
    if not path or path == _IDENTITY:
        _compressor = None
        return
    from django.utils.module_loading import import_string

    _compressor = import_string(path)(options=options)


def dumps(value: Any, *, compress: bool = True) -> bytes:
    """`compress=False` for values Redis itself must read (the history entry a script appends to)."""
    data = _dumps(value)
    if compress and _compressor is not None and len(data) >= COMPRESS_MIN_BYTES:
        packed = _compressor.compress(data)
        if len(packed) + 1 < len(data):
            return bytes((_COMPRESSED,)) + packed
    return data


def _dumps(value: Any) -> bytes:
    if type(value) is bytes:
        return bytes((_BYTES,)) + value
    if _is_json(value, 0):
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # pragma: no cover - _is_json admits only what orjson takes
            pass
    # Pickling errors (an unpicklable object) propagate: the caller has a bug, the contract says so.
    payload = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return bytes((_SIGNED_PICKLE,)) + hmac.digest(_signing_keys()[0], payload, "sha256") + payload


def loads(raw: bytes) -> Any:
    if not raw:
        raise RefusedValue("empty value")
    tag = raw[0]
    if tag > 0x08:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Covers a bare pickle (starts with 0x80) planted by someone without the secret.
            raise RefusedValue("neither JSON nor a signed value") from None
    if tag == _BYTES:
        return raw[1:]
    if tag == _SIGNED_PICKLE and len(raw) > 1 + _MAC_SIZE:
        mac, payload = raw[1 : 1 + _MAC_SIZE], raw[1 + _MAC_SIZE :]
        for key in _signing_keys():  # current secret first, then SECRET_KEY_FALLBACKS (rotation)
            if hmac.compare_digest(mac, hmac.digest(key, payload, "sha256")):
                return _unpickle(payload)
        raise RefusedValue("signature does not verify")
    if tag == _COMPRESSED:
        inner = _decompress(raw)
        if inner and inner[0] != _COMPRESSED:
            return loads(inner)
    raise RefusedValue(f"unknown format 0x{tag:02x}")


def uncompressed(raw: bytes) -> bytes:
    """The stored bytes without the COMPRESSOR's layer (as they are when it did not compress)."""
    return _decompress(raw) if raw[:1] == bytes((_COMPRESSED,)) else raw


def _decompress(raw: bytes) -> bytes:
    if _compressor is None:
        raise RefusedValue("a compressed value, but no COMPRESSOR is configured")
    try:
        return _compressor.decompress(raw[1:])
    except Exception as error:  # CompressorError, or a different compressor wrote it
        raise RefusedValue(f"compressed value cannot be decompressed ({type(error).__name__})") from None


def _unpickle(payload: bytes) -> Any:
    try:
        return pickle.loads(payload)
    except Exception as error:
        # Ours, but written by older code (a class since moved or changed): stale, not trusted.
        raise RefusedValue(f"signed value cannot be unpickled ({type(error).__name__}: {error})") from error


def is_json_native(value: Any) -> bool:
    """True when `value` survives a JSON round trip unchanged (same types, same values)."""
    return _is_json(value, 0)


def _is_json(value: Any, depth: int) -> bool:
    # Exact types only: a tuple would come back a list, a str subclass (SafeString) as plain str,
    # an IntEnum as int, NaN as null — those go to pickle, which keeps them as they were.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return _INT64_MIN <= value <= _INT64_MAX
    if kind is float:
        return math.isfinite(value)
    if depth >= _MAX_JSON_DEPTH:
        return False
    if kind is list:
        return all(_is_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


_key_cache: dict[tuple[str, tuple[str, ...]], tuple[bytes, ...]] = {}


def _signing_keys() -> tuple[bytes, ...]:
    # Read the secret at call time (tests override it); derive once per distinct secret.
    secrets = (settings.SECRET_KEY, tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ())))
    keys = _key_cache.get(secrets)
    if keys is None:
        keys = tuple(
            hashlib.sha256(_KEY_SALT + str(secret).encode()).digest() for secret in (secrets[0], *secrets[1])
        )
        _key_cache.clear()
        _key_cache[secrets] = keys
    return keys
