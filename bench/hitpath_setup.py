"""The data the hit-path benchmark reads, and the variants that read it (bench/hitpath.py).

One user is built through the webhook's own code path (`handle_update`): a full profile, three
preferences and turns from the workload until the history the bot reads back holds its maximum of
50 messages. The FDC answer is a real parse of the fake FDC's (realistically sized) response.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import orjson
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoBuiltinRedisCache
from django_redis.cache import RedisCache as DjangoRedisCache

from caching.keys import conversation_history_key, usda_key, user_memory_key
from caching.consistency.tokens import token_key
from conversations.selectors import HISTORY_MAX, get_conversation_history
from conversations.updates import CONTEXT_MESSAGES, handle_update
from memory.selectors import load_user_memory
from nutrition.fdc import get_client
from nutrition.selectors import normalise_query, search_foods

from .fake_fdc import FakeFDC
from .variants import RAW, Namespace, Variant, cache_disabled, in_turn
from .workload import FIRST_USER_ID, Turn, iter_turns, telegram_update

USER_ID = FIRST_USER_ID - 1  # outside the webhook workload's users
FOOD_QUERY = "Banana"
PROFILE_TURNS = ("/set weight_kg 72.5", "/set height_cm 178", "/set age 34", "/set sex female",
                 "/set activity moderate", "/set goal maintain", "/set kcal_target 2200",
                 "/pref diet vegetarian", "/pref allergy peanuts", "/pref units metric")


@dataclass
class Fixture:
    namespaces: list[Namespace]
    memory: dict
    fdc: FakeFDC

    def close(self) -> None:
        self.fdc.close()


def _build_user(update_ids: itertools.count) -> None:
    def say(text: str, kind: str = "text") -> None:
        handle_update(telegram_update(Turn(USER_ID, kind, text), next(update_ids)))

    for text in PROFILE_TURNS:
        say(text)
    workload = iter_turns(seed=7, users=1)  # one user: every turn of the mix, with that user's id replaced
    for turn in itertools.islice(workload, 500):
        if len(get_conversation_history(user_id=USER_ID, limit=HISTORY_MAX)) >= HISTORY_MAX:
            return
        say(turn.text, turn.kind)
    raise RuntimeError("the benchmark user's history did not reach 50 messages")


def _peers(url: str, key: str, value: object) -> dict[str, Variant]:
    """The same value in django-redis as configured out of the box, Django's RedisCache and LocMemCache."""
    plain = DjangoRedisCache(url, {"KEY_PREFIX": "bench-django-redis"})
    builtin = DjangoBuiltinRedisCache(url, {"KEY_PREFIX": "bench-django-builtin"})
    locmem = LocMemCache("healthagent-bench", {})
    for backend in (plain, builtin, locmem):
        backend.set(key, value, None)
        assert backend.get(key) == value
    return {
        "django_redis": Variant("django-redis cache.get (DefaultClient, pickle)", lambda: plain.get(key)),
        "django_builtin": Variant("Django's RedisCache get (pickle)", lambda: builtin.get(key)),
        "locmem": Variant("LocMemCache get (in-process, pickle)", lambda: locmem.get(key)),
    }


def _namespace(name: str, key: str, raw_client: redis.Redis, source: Variant, selector: Variant | None) -> Namespace:
    rkey = cache.make_and_validate_key(key)
    blob = raw_client.get(rkey)
    if blob is None:
        raise RuntimeError(f"{key} is not in Redis: nothing to measure a hit on")
    value = cache.get(key)
    stored_format = {b"\x02": "signed pickle", b"\x03": "compressed (COMPRESSOR)"}.get(
        blob[:1], "json" if blob[:1] > b"\x08" else "other")
    raw_key = rkey
    if stored_format != "json":
        # The baseline is JSON bytes of the same value; the entry itself is not JSON, so a copy is.
        raw_key = f"bench-raw:{rkey}"
        raw_client.set(raw_key, json.dumps(value).encode())
    variants = {
        RAW: Variant("raw redis-py GET + json.loads", lambda: json.loads(raw_client.get(raw_key))),
        "raw_orjson": Variant("raw redis-py GET + orjson.loads", lambda: orjson.loads(raw_client.get(raw_key))),
        "ours_get": Variant("ours: cache.get", lambda: cache.get(key)),
        **_peers(settings.REDIS_URL, key, value),
        "source": source,
    }
    if selector is not None:
        variants["ours_selector"] = selector
    namespace = Namespace(name, key, len(blob), variants, goal_variant="ours_selector" if selector else "ours_get",
                          stored_format=stored_format, json_bytes=len(raw_client.get(raw_key)))
    for variant in variants.values():  # every variant must really read the value (a miss is no hit)
        with variant.context():
            assert variant.call() is not None, variant.label
    return namespace


def _memory_usage(raw_client: redis.Redis, *keys: str) -> int:
    return sum(raw_client.memory_usage(cache.make_and_validate_key(k), samples=0) or 0 for k in keys)


def build(*, fdc_latency: float, fdc_calls: int, calls: int) -> Fixture:
    fdc = FakeFDC(latency=0)
    settings.USDA_API_URL = fdc.url
    settings.NUTRITION_PROVIDER = "usda"
    _build_user(itertools.count(1))
    raw_client = redis.Redis.from_url(settings.REDIS_URL)
    source_share = 0.25

    load_user_memory(user_id=USER_ID)  # fills the entry if the last write invalidated it
    memory_key = user_memory_key(USER_ID)
    user_memory = _namespace(
        "user_memory", memory_key, raw_client,
        Variant("PostgreSQL: the selector with the cache off", lambda: load_user_memory(user_id=USER_ID),
                source_share, cache_disabled),
        Variant("ours: load_user_memory in a turn (one GET; the token only on a miss)",
                lambda: load_user_memory(user_id=USER_ID), context=in_turn))

    get_conversation_history(user_id=USER_ID, limit=CONTEXT_MESSAGES)
    history_key = conversation_history_key(USER_ID)
    history = _namespace(
        "conversation_history", history_key, raw_client,
        Variant("PostgreSQL: the selector with the cache off",
                lambda: get_conversation_history(user_id=USER_ID, limit=CONTEXT_MESSAGES), source_share, cache_disabled),
        Variant(f"ours: get_conversation_history(limit={CONTEXT_MESSAGES}) in a turn (one GET; the token only on a miss)",
                lambda: get_conversation_history(user_id=USER_ID, limit=CONTEXT_MESSAGES), context=in_turn))

    # The usda entry: through search_foods when it caches (it makes one FDC call for two lookups),
    # else stored here under the same key, as get_or_set would.
    normalised = normalise_query(FOOD_QUERY)
    food_key = usda_key(normalised, 5)
    cache.delete(food_key)
    before = fdc.searches
    search_foods(query=FOOD_QUERY, limit=5)
    search_foods(query=FOOD_QUERY, limit=5)
    selector_caches = fdc.searches - before == 1 and raw_client.exists(cache.make_and_validate_key(food_key))
    if not selector_caches:
        cache.set(food_key, get_client().search(normalised, page_size=5), timeout=settings.CACHE_TTL_NUTRITION)
    fdc.latency = fdc_latency
    usda = _namespace(
        "usda", food_key, raw_client,
        Variant(f"FDC search (fake, {fdc_latency * 1000:g} ms latency) + parse",
                lambda: get_client().search(normalised, page_size=5), fdc_calls / calls, interleaved=False),
        Variant("ours: search_foods (get_or_set)", lambda: search_foods(query=FOOD_QUERY, limit=5))
        if selector_caches else None)

    memory = {
        "user_memory": _memory_usage(raw_client, memory_key, token_key(memory_key)),
        "conversation_history_full": _memory_usage(raw_client, history_key, token_key(history_key)),
        "usda_entry": _memory_usage(raw_client, food_key),
        "history_messages": len(get_conversation_history(user_id=USER_ID, limit=HISTORY_MAX)),
        "usda_selector_caches": bool(selector_caches),
    }
    return Fixture([user_memory, history, usda], memory, fdc)


def append_bytes(update_ids: itertools.Iterator[int], *, short_user: int = USER_ID - 1,
                 long_user: int = USER_ID) -> dict:
    """Bytes sent to Redis by one free-text turn whose history entry holds 1 message (`short_user`, set
    up here), and 50 (`long_user`, built before): the whole turn, its on-commit round trip, and in it the
    history append alone (the EVALSHA on the history key).

    The short user's profile is created as a first turn creates it, with the language Telegram reports
    for the app: a profile without it (as this set-up made it before) has the measured turn record
    the language, and its round trip on commit carried that profile write too — 185 bytes of
    user_memory's INVALIDATE that were read as the append costing more on a short history."""
    import threading

    from redis.connection import AbstractConnection

    from conversations import language
    from conversations.services import message_save
    from memory.services import profile_ensure

    sent: list[bytes] = []
    me = threading.get_ident()
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        if threading.get_ident() == me:
            sent.append(command if isinstance(command, bytes) else command.encode() if isinstance(command, str)
                        else b"".join(command))
        return original(self, command, check_health)

    update = telegram_update(Turn(short_user, "text", "hello"), 0)["message"]
    profile_ensure(user_id=short_user, name=update["from"]["first_name"], username=update["from"]["username"],
                   app_language=language.of_message(update))  # as its updates say
    message_save(user_id=short_user, role="user", content="hello")
    results = {}
    AbstractConnection.send_packed_command = counting
    try:
        for label, user in (("1", short_user), ("50", long_user)):
            load_user_memory(user_id=user)
            held = len(get_conversation_history(user_id=user, limit=HISTORY_MAX))  # cached now
            sent.clear()
            handle_update(telegram_update(Turn(user, "text", "hello"), next(update_ids)))
            history = cache.make_and_validate_key(conversation_history_key(user)).encode()
            commands = _commands(sent[-1])
            appends = [c for c in commands if c[1][:1] == [b"EVALSHA"] and history in c[1]]
            results[label] = {"messages_before": held, "turn_bytes": sum(map(len, sent)), "commit_bytes": len(sent[-1]),
                              "append_bytes": sum(len(c[0]) for c in appends), "commit_commands": len(commands),
                              "round_trips": len(sent)}
    finally:
        AbstractConnection.send_packed_command = original
    return results


def _commands(packed: bytes) -> list[tuple[bytes, list[bytes]]]:
    """The commands in one packed send (RESP arrays of bulk strings): (their bytes, their arguments)."""
    commands, at = [], 0
    while at < len(packed):
        start = at
        end = packed.index(b"\r\n", at)
        count = int(packed[at + 1:end])
        at, args = end + 2, []
        for _ in range(count):
            end = packed.index(b"\r\n", at)
            size = int(packed[at + 1:end])
            args.append(packed[end + 2:end + 2 + size])
            at = end + 2 + size + 2
        commands.append((packed[start:at], args))
    return commands
