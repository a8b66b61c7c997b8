"""Part 4: what the cache costs in Redis memory, from `MEMORY USAGE` on every key it wrote.

Keys look like `ha:s1:1:user_memory:{42}` and `ha:s1:1:user_memory:{42}:token` (ARCHITECTURE.md §5); usda
entries (`ha:s1:1:usda:<sha1>:<limit>`) are shared by every user who looks that food up, so they are
counted apart from the per-user figure.
"""

from __future__ import annotations

import re

import redis

MIB = 1024 * 1024
_KEY = re.compile(rb"^[^:]+:s\d+:\d+:(?P<ns>[a-z_]+):(?P<rest>.*)$")
_USER = re.compile(rb"^\{(?P<user>\d+)\}(?P<token>:token)?$")
USER_NAMESPACES = ("user_memory", "conversation_history")


def classify(rkey: bytes) -> tuple[str, int | None, bool] | None:
    """(namespace, user id or None, is a version token) of a cache key; None for keys not the cache's."""
    match = _KEY.match(rkey)
    if not match:
        return None
    namespace = match["ns"].decode()
    user = _USER.match(match["rest"])
    if namespace in USER_NAMESPACES and user:
        return namespace, int(user["user"]), bool(user["token"])
    if namespace in USER_NAMESPACES:
        return None
    return namespace, None, match["rest"].endswith(b":token")


def tally(sizes: dict[bytes, int]) -> dict:
    """Totals per namespace and per active user from {key: MEMORY USAGE bytes}."""
    namespaces: dict[str, dict[str, int]] = {}
    users: set[int] = set()
    for rkey, size in sizes.items():
        found = classify(rkey)
        if found is None:
            continue
        namespace, user, token = found
        row = namespaces.setdefault(namespace, {"entries": 0, "entry_bytes": 0, "tokens": 0, "token_bytes": 0})
        if token:
            row["tokens"] += 1
            row["token_bytes"] += size
        else:
            row["entries"] += 1
            row["entry_bytes"] += size
        if user is not None:
            users.add(user)
    per_user_bytes = sum(
        namespaces.get(ns, {}).get("entry_bytes", 0) + namespaces.get(ns, {}).get("token_bytes", 0)
        for ns in USER_NAMESPACES)
    return {
        "namespaces": namespaces,
        "active_users": len(users),
        "bytes_per_active_user": per_user_bytes / len(users) if users else None,
    }


def users_in(budget_bytes: int, *, per_user: float, shared: float = 0.0) -> int:
    """How many users' entries fit in `budget_bytes` once `shared` bytes (usda) are taken."""
    if per_user <= 0:
        raise ValueError("per_user must be positive")
    return max(0, int((budget_bytes - shared) // per_user))


def scan(client: redis.Redis, pattern: str = "ha:s*") -> dict:
    sizes: dict[bytes, int] = {}
    batch: list[bytes] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(batch, pipe.execute()):
            if size is not None:  # expired between SCAN and MEMORY USAGE
                sizes[key] = size
        batch.clear()

    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            flush()
    if batch:
        flush()
    return tally(sizes)
