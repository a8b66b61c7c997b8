"""Nutrition reads: food lookups and the food diary of a day."""

from __future__ import annotations

import datetime
import functools
import logging
import threading
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy

from caching.api import refuse_value, usda_key
from healthagent import upstream
from healthagent.errors import ApplicationError
from nutrition.models import FoodEntry
from nutrition.providers import get_provider

MAX_QUERY_CHARS = 100
MAX_LIMIT = 50
EMPTY_QUERY = gettext_lazy("Tell me what to look up, e.g. /food banana")
FDC_BUSY = gettext_lazy("Sorry, the food database is slow right now, so I looked nothing up and logged nothing. "
                        "Please try again in a minute.")
logger = logging.getLogger(__name__)


def normalise_query(query: str) -> str:
    """The canonical form of a food query: NFKC, case-folded, whitespace collapsed and stripped.

    Queries that differ only in case, width or spacing ("Banana", " banana ", "ｂａｎａｎａ") become one,
    so they share one upstream answer (and one cache key).
    """
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


# /food shows this many matches and /log takes the first of the same answer: one cached lookup
# (one key, one FDC call) per normalised query serves both.
LOOKUP_LIMIT = 5


def search_foods(*, query: str, limit: int = LOOKUP_LIMIT) -> list[dict]:
    """At most `limit` foods (dicts as nutrition.fdc.parse_food makes them) matching `query`.

    USDA answers are cached per normalised query and limit (ARCHITECTURE.md §5.3): concurrent misses make one
    FDC request, "no results" is kept for CACHE_TTL_NUTRITION_EMPTY, an FDC error is never kept.

    Raises ApplicationError for an empty or over-long query, a limit outside 1..50, and (503) when
    the upstream cannot answer.
    """
    normalised, key = _query_key(query, limit)
    if key is None:
        if not normalised:
            raise ApplicationError(EMPTY_QUERY)
        if len(normalised) > MAX_QUERY_CHARS:
            raise ApplicationError(
                _("That is too long to look up: keep it to {max} characters, e.g. /food banana").format(max=MAX_QUERY_CHARS)
            )
        raise ApplicationError(_("The number of results must be between 1 and {max}.").format(max=MAX_LIMIT))
    if settings.NUTRITION_PROVIDER != "usda":
        # The offline sample set answers in-process, so there is nothing to save; and its foods must
        # never sit under usda keys, where a switch to USDA would serve them as USDA data.
        return _fetch_foods(normalised, limit)
    if upstream.deferring():  # inside a bot turn's transaction: a hit, else the lookup made outside it
        cached = _NOT_CACHED if upstream.kept(key) else cache.get(key, _NOT_CACHED)
        if is_food_list(cached):
            return cached
        if cached is not _NOT_CACHED:  # planted or corrupt ("null" too): counted, deleted, filled by the lookup
            refuse_value(key=key, reason="not a list of foods")
        return upstream.outside(key, lambda: _bounded(lambda: _looked_up(key, normalised, limit)))
    return _looked_up(key, normalised, limit)


_NOT_CACHED = object()
_KEYS_KEPT = 1024  # (query, limit) pairs; past that the memory starts again empty
_KEPT_QUERY_CHARS = 4 * MAX_QUERY_CHARS  # longer text (a message, not a food) is not kept
_keys: dict[tuple[str, int], tuple[str, str | None]] = {}


def _query_key(query: str, limit: object) -> tuple[str, str | None]:
    """(the normalised query, its cache key, or None when the query or the limit cannot be looked up).

    Every lookup needs both, a hit too, and a bot turn twice (`search_cache_key` for its read ahead,
    then `search_foods`): NFKC, case folding and a SHA-1 each time cost a hit more than its shape
    check. They depend on the text and the limit only, so they are kept per process for the queries
    asked recently — a dict lookup instead."""
    if type(limit) is not int:  # bool, float, a list (unhashable): never a valid limit, never kept
        normalised = normalise_query(query)
        return normalised, None
    found = _keys.get((query, limit))
    if found is not None:
        return found
    normalised = normalise_query(query)
    key = usda_key(normalised, limit) if normalised and len(normalised) <= MAX_QUERY_CHARS and 1 <= limit <= MAX_LIMIT else None
    if len(query) <= _KEPT_QUERY_CHARS:
        if len(_keys) >= _KEYS_KEPT:
            _keys.clear()
        _keys[(query, limit)] = (normalised, key)
    return normalised, key


def _looked_up(key: str, normalised: str, limit: int) -> list[dict]:
    # A cached value that is not a list of foods (planted) is refused, deleted and filled again (one
    # upstream call, single flight); if someone keeps planting values there, the upstream answer is
    # used as it is. A hit on bytes that passed before is not checked again.
    return cache.get_or_set(key, lambda: _fetch_foods(normalised, limit), timeout=_ttl, valid=is_food_list)


# Per 100 g (nutrition.units keeps parsed values within these); the diary scales them by up to 50.
_NUTRIENT_MAX = (("kcal", 1000), ("protein", 105), ("fat", 105), ("carbs", 105), ("fiber", 105), ("sugars", 105),
                 ("sodium_mg", 40_000))
_NUMBER = (int, float)
_OPTIONAL_TEXT = ("brand", "source")


def _is_food(food: object) -> bool:
    # Every lookup that hits runs this over its foods, so it is plain statements, not nested
    # generators: under half the time, for the same verdicts (tests/nutrition/test_selectors.py).
    if type(food) is not dict:
        return False
    fdc_id = food.get("fdc_id")
    if fdc_id is not None and (type(fdc_id) is not int or not 0 < fdc_id < 2**63):
        return False
    description = food.get("description")
    if type(description) is not str or "\x00" in description or not description.strip():
        return False
    for name in _OPTIONAL_TEXT:
        text = food.get(name)
        if text is not None and (type(text) is not str or "\x00" in text):
            return False
    for name, high in _NUTRIENT_MAX:
        value = food.get(name)
        if value is not None and (type(value) not in _NUMBER or not 0 <= value <= high):
            return False
    return True


def is_food_list(value: object) -> bool:
    """True when `value` is what `_fetch_foods` returns (nutrition.fdc.parse_food's dicts, the
    fields replies and the diary read): what a cached entry must be to be used."""
    return type(value) is list and all(map(_is_food, value))


def search_cache_key(*, query: str, limit: int = LOOKUP_LIMIT) -> str | None:
    """The cache key `search_foods(query=query, limit=limit)` reads, or None when it reads none: a
    bot turn reads it together with the user's entries, in one round trip."""
    if settings.NUTRITION_PROVIDER != "usda":
        return None
    return _query_key(query, limit)[1]


def _ttl(foods: list[dict]) -> int:
    # FDC keeps adding foods (branded ones weekly): a query that finds nothing today is asked again
    # within the hour, while results stay good for the day.
    return settings.CACHE_TTL_NUTRITION if foods else settings.CACHE_TTL_NUTRITION_EMPTY


@functools.lru_cache(maxsize=4)
def _slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


def _bounded(lookup: Callable[[], list[dict]]) -> list[dict]:
    """A turn's lookup, if fewer than USDA_CONCURRENCY of this process's turns wait on FDC now: each
    holds a worker thread while it waits, so a slow FDC must not take them all from the turns that
    need no lookup. Past the bound the turn says so at once (nothing looked up, nothing logged)."""
    slots = _slots(settings.USDA_CONCURRENCY)
    if not slots.acquire(blocking=False):
        logger.info("food lookup refused: USDA_CONCURRENCY turns of this process already wait on FDC")
        raise ApplicationError(FDC_BUSY, status=503)
    try:
        return lookup()
    finally:
        slots.release()


def _fetch_foods(query: str, limit: int) -> list[dict]:
    """The one upstream call for an already normalised query: the unit a cache wraps."""
    return get_provider().search(query, page_size=limit)[:limit]


def user_zone(tz: str | None) -> ZoneInfo:
    """The user's time zone (their /set tz), else settings.TIME_ZONE — also for a name this
    machine's tz database no longer knows (zones are renamed now and then)."""
    try:
        return ZoneInfo(tz) if tz else ZoneInfo(settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def local_today(tz: str | None = None) -> datetime.date:
    return timezone.localtime(timezone.now(), user_zone(tz)).date()


def diary_day(*, user_id: int, day: datetime.date | None = None, tz: str | None = None) -> dict:
    """The food diary of `day` (default today) as the user's day runs in `tz` (an IANA name, their
    /set tz), else in settings.TIME_ZONE.

    Returns {"day": date, "entries": [entry dicts, oldest first], "kcal", "protein", "fat", "carbs"}.
    Entries are dicts (id, fdc_id, description, said, grams, kcal, protein, fat, carbs, eaten_at); totals
    and amounts are Decimal with one decimal place, as stored — exact sums, no float drift. A
    nutrient missing from an entry (None) counts as 0 in the totals. Entries are numbered 1.. in
    this order by /today and /delete.
    """
    zone = user_zone(tz)
    day = day or local_today(tz)
    # Midnight to midnight in local time: 23 or 25 hours on DST changes, and still a range on the
    # (user, eaten_at) index rather than a per-row date conversion.
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    rows = (
        FoodEntry.objects.filter(user_id=user_id, eaten_at__gte=start, eaten_at__lt=end)
        .order_by("eaten_at", "id")
        .values("id", "fdc_id", "description", "said", "grams", "kcal", "protein", "fat", "carbs", "eaten_at")
    )
    entries = list(rows)
    totals = {
        name: sum((entry[name] or Decimal(0) for entry in entries), Decimal("0.0")).quantize(Decimal("0.1"))
        for name in ("kcal", "protein", "fat", "carbs")
    }
    return {"day": day, "entries": entries, **totals}


def kcal_by_day(*, user_id: int, first: datetime.date, last: datetime.date, tz: str | None = None) -> dict[datetime.date, Decimal]:
    """The kcal logged on each day from `first` to `last` (inclusive) as the user's days run in
    `tz`; days with nothing logged are absent. One query on the (user, eaten_at) index: a month is a
    few hundred rows at most, summed here so that SQLite and PostgreSQL agree on where a day ends."""
    zone = user_zone(tz)
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    totals: dict[datetime.date, Decimal] = {}
    rows = FoodEntry.objects.filter(user_id=user_id, eaten_at__gte=start, eaten_at__lt=end).values_list("eaten_at", "kcal")
    for eaten_at, kcal in rows:
        day = timezone.localtime(eaten_at, zone).date()
        totals[day] = totals.get(day, Decimal("0.0")) + kcal
    return totals


def diary_all(*, user_id: int) -> list[dict]:
    """Every diary entry of the user, oldest first (dicts as diary_day's): what /export writes."""
    return list(FoodEntry.objects.filter(user_id=user_id).order_by("eaten_at", "id").values(
        "eaten_at", "description", "said", "grams", "kcal", "protein", "fat", "carbs"))
