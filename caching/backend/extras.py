"""django-redis's own methods beyond Django's API (`ttl`, `expire`, `keys`, `delete_pattern`, `lock`,
the hash, set and sorted-set helpers), each through the backend's one guard (caching/backend/guard.py).

django-redis's client does the work (our value format and key layout come from
`caching.backend.client.SafeClient`); the guard counts failures per namespace, feeds the breaker, and while
Redis cannot answer returns what the method returns for a key that does not exist — `ttl` 0,
`expire` False, `keys` [], `smembers` set(), `hlen` 0 — like django-redis's IGNORE_EXCEPTIONS, but
with an answer of the right type. Where no answer is safe the call raises `CacheUnavailable` (a
redis-py ConnectionError): `lock()` (pretending to hold a lock breaks mutual exclusion) and
`zincrby` (the new score cannot be made up). README lists them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from caching.backend.guard import REDIS_ERRORS, CacheUnavailable
from caching.keys import OTHER, namespace_of

Answer = Callable[[tuple, dict], Any]


def _const(value: Any) -> Answer:
    return lambda args, kwargs: value


def _fresh(factory: Callable[[], Any]) -> Answer:
    return lambda args, kwargs: factory()


def _by_count(single: Any, many: Callable[[], Any]) -> Answer:
    # spop/srandmember: one member (None when empty), or a collection when `count` is given.
    def answer(args: tuple, kwargs: dict) -> Any:
        count = kwargs.get("count", args[1] if len(args) > 1 else None)
        return single if count is None else many()
    return answer


def _raise(args: tuple, kwargs: dict) -> Any:
    raise CacheUnavailable("no safe answer without Redis")


_NONE, _ZERO, _FALSE = _const(None), _const(0), _const(False)
_LIST, _SET = _fresh(list), _fresh(set)

# name -> (writes?, the answer while Redis cannot give one)
EXTRAS: dict[str, tuple[bool, Answer]] = {
    "ttl": (False, _ZERO), "pttl": (False, _ZERO),
    "persist": (True, _FALSE), "expire": (True, _FALSE), "pexpire": (True, _FALSE),
    "expire_at": (True, _FALSE), "pexpire_at": (True, _FALSE),
    "keys": (False, _LIST),
    # sets
    "sadd": (True, _ZERO), "scard": (False, _ZERO), "sdiff": (False, _SET), "sdiffstore": (True, _ZERO),
    "sinter": (False, _SET), "sinterstore": (True, _ZERO), "sismember": (False, _FALSE),
    "smismember": (False, lambda args, kwargs: [False] * (len(args) - 1)), "smembers": (False, _SET),
    "smove": (True, _FALSE), "spop": (True, _by_count(None, set)), "srandmember": (False, _by_count(None, list)),
    "srem": (True, _ZERO), "sscan": (False, _SET), "sunion": (False, _SET), "sunionstore": (True, _ZERO),
    # hashes
    "hset": (True, _ZERO), "hdel": (True, _ZERO), "hlen": (False, _ZERO), "hkeys": (False, _LIST),
    "hexists": (False, _FALSE),
    # sorted sets
    "zadd": (True, _ZERO), "zcard": (False, _ZERO), "zcount": (False, _ZERO), "zincrby": (True, _raise),
    "zpopmax": (True, _LIST), "zpopmin": (True, _LIST), "zrange": (False, _LIST),
    "zrangebyscore": (False, _LIST), "zrank": (False, _NONE), "zrem": (True, _ZERO),
    "zremrangebyscore": (True, _ZERO), "zrevrange": (False, _LIST), "zrevrangebyscore": (False, _LIST),
    "zscore": (False, _NONE),
}


def _namespace(args: tuple, kwargs: dict) -> str:
    key = args[0] if args else kwargs.get("key", kwargs.get("search", kwargs.get("pattern")))
    return OTHER if key is None else namespace_of(key)


def _extra(name: str, writes: bool, answer: Answer) -> Callable[..., Any]:
    def method(self: Any, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        call = getattr(self.client, name)
        if writes and client is None:
            # django-redis picks the primary for writes itself (and a test double of the client
            # sees exactly the caller's arguments).
            run = lambda r: call(*args, **kwargs)  # noqa: E731
        else:
            run = lambda r: call(*args, client=r, **kwargs)  # noqa: E731
        missing = object()
        result = self._guard(run, (_namespace(args, kwargs),), name, missing, client=client)
        return answer(args, kwargs) if result is missing else result

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"django-redis's `{name}`, through the guard (caching/backend/extras.py)."
    return method


class DjangoRedisExtras:
    """Mixed into the backend before django-redis's RedisCache, whose methods these replace."""

    _guard: Callable[..., Any]
    record_failure: Callable[..., None]
    require_redis: Callable[[str], None]
    client: Any
    _default_scan_itersize: int

    def delete_pattern(self, pattern: str, *args: Any, client: Any = None, **kwargs: Any) -> int:
        kwargs.setdefault("itersize", self._default_scan_itersize)  # as django-redis does
        if client is not None:
            kwargs["client"] = client
        return self._guard(lambda r: self.client.delete_pattern(pattern, *args, **kwargs),
                           (_namespace((pattern,), {}),), "delete_pattern", 0, client=client)

    def iter_keys(self, search: str, *args: Any, client: Any = None, **kwargs: Any) -> Iterator[str]:
        """Empty while the breaker is open; a failure mid-way is counted and raised (a listing
        silently cut short would look complete)."""
        return self._iterate(lambda r: self.client.iter_keys(search, *args, client=r, **kwargs),
                             (_namespace((search,), {}),), "iter_keys", client)

    def sscan_iter(self, key: str, *args: Any, client: Any = None, **kwargs: Any) -> Iterator[Any]:
        return self._iterate(lambda r: self.client.sscan_iter(key, *args, client=r, **kwargs),
                             (namespace_of(key),), "sscan_iter", client)

    def _iterate(self, start: Callable[[Any], Iterator[Any]], namespaces: tuple, op: str,
                 client: Any) -> Iterator[Any]:
        def first_batch(r: Any) -> tuple[list, Iterator[Any]]:
            # The first item inside the guard: a generator does not touch Redis until asked, and
            # the breaker must see the round trip it judges.
            items = start(r)
            return [item for item in itertools.islice(items, 1)], items

        head, rest = self._guard(first_batch, namespaces, op, ([], iter(())), client=client)
        yield from head
        try:
            yield from rest
        except REDIS_ERRORS as error:
            self.record_failure(error, namespaces, op)
            raise

    def lock(self, key: str, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        """A redis-py Lock. Raises CacheUnavailable while the breaker is open: no lock is safe then."""
        if client is None:
            self.require_redis("lock")
        return self.client.lock(key, *args, client=client, **kwargs)


for _name, (_writes, _answer) in EXTRAS.items():
    setattr(DjangoRedisExtras, _name, _extra(_name, _writes, _answer))
del _name, _writes, _answer
