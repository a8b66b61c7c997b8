"""Version tokens: the random value beside each cached key that every invalidation replaces.

A value is filled only while the token a reader read before loading from the database is unchanged
(docs/ARCHITECTURE.md §5.1). Tokens are random, never counters, so one lost to eviction fails the fills
in flight and a new one is minted by the next miss: eviction costs hits, never correctness.
"""

from __future__ import annotations

import secrets

# A token outlives the value it guards, so it is still there when an in-flight fill checks it.
# (A token that expires anyway only fails the fills in flight; the next miss mints a new one.)
TOKEN_TTL_FACTOR = 2
INVALIDATED_TOKEN_TTL_MS = 2 * 3600 * 1000


def token_key(key: str) -> str:
    """The token's key: the value's key with a suffix, so the same Cluster hash slot."""
    return f"{key}:token"


def new_token() -> str:
    return secrets.token_hex(8)


def ms(seconds: int) -> int:
    return int(seconds * 1000)
