"""USDA FoodData Central: the HTTP client for /v1/foods/search and the parser of its answer.

Every failure a user can meet (refused key, rate limit, outage, garbage) becomes one ApplicationError
with status 503 and is logged once at WARNING — never with the API key, which travels only in the
X-Api-Key header because URLs end up in logs, and never with the query (the user's own words): a
hash of it names the search.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from http.cookiejar import DefaultCookiePolicy

import requests
from django.conf import settings
from django.utils.translation import gettext_lazy
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError, InvalidHeader, MaxRetryError, ProtocolError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from healthagent.errors import ApplicationError
from nutrition import metrics as fdc_metrics
from nutrition.portions import fdc_portions
from nutrition.units import convert_nutrient

logger = logging.getLogger(__name__)

UNAVAILABLE = gettext_lazy("Sorry, nutrition lookups are unavailable right now. Please try again in a few minutes.")
RATE_LIMITED = gettext_lazy(
    "Sorry, nutrition lookups are unavailable right now: the USDA FoodData Central rate limit was "
    "reached. Please try again later."
)
KEY_REFUSED = gettext_lazy(
    "Sorry, nutrition lookups are unavailable right now: the API key was refused by USDA FoodData "
    "Central (the operator should check USDA_API_KEY)."
)

DATA_TYPES = "Foundation,SR Legacy,Survey (FNDDS),Branded"
MAX_PAGE_SIZE = 200  # FDC's own limit for pageSize
RETRY_STATUSES = (429, 500, 502, 503, 504)


class BoundedRetry(Retry):
    """urllib3 Retry that never makes a bot turn wait long.

    A Retry-After above `max_retry_after` seconds is not slept on: the retry gives up at once and the
    caller sees the 429/503 (urllib3 alone would sleep up to six hours). A read timeout is not retried
    either: the upstream is slow, and asking again would double the wait.
    """

    def __init__(self, *args, max_retry_after: float = 5.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after

    def new(self, **kw) -> BoundedRetry:
        kw.setdefault("max_retry_after", self.max_retry_after)
        return super().new(**kw)

    def get_retry_after(self, response) -> float | None:
        try:
            return super().get_retry_after(response)
        except InvalidHeader:  # a garbled header falls back to our own small backoff
            return None

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, ReadTimeoutError):
            raise error.with_traceback(_stacktrace)
        wait = None
        if response is not None and error is None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.max_retry_after:
                reason = ResponseError(f"Retry-After {wait:.0f}s is longer than {self.max_retry_after:g}s")
                raise MaxRetryError(_pool, url, reason)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        latest_start = getattr(_budget, "latest_start", None)
        pause = wait if wait is not None else retry.get_backoff_time()
        if latest_start is not None and time.monotonic() + pause > latest_start:
            raise MaxRetryError(_pool, url, ResponseError("no time left for another attempt (USDA_TIME_BUDGET)"))
        return retry


# The search this thread is making: the last moment another attempt may start and still end, with
# its own connect and read timeouts, within USDA_TIME_BUDGET of the search's start. A bot turn waits
# for the search, so the whole of it (retries and their pauses included) stays well under the web
# worker's timeout.
_budget = threading.local()


class FDCClient:
    """A FoodData Central client; each argument defaults to its USDA_* setting."""

    def __init__(
        self,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        retries: int | None = None,
        max_retry_after: float | None = None,
    ) -> None:
        self.api_url = (api_url or settings.USDA_API_URL).rstrip("/")
        self._api_key = api_key or settings.USDA_API_KEY
        self.timeout = (
            connect_timeout or settings.USDA_CONNECT_TIMEOUT,
            read_timeout or settings.USDA_READ_TIMEOUT,
        )
        self.time_budget = settings.USDA_TIME_BUDGET
        total = settings.USDA_RETRIES if retries is None else retries
        retry = BoundedRetry(
            total=total,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=0.1,
            backoff_max=1.0,
            respect_retry_after_header=True,
            # Give the last 429/5xx back instead of raising, so we can tell the user which it was.
            raise_on_status=False,
            max_retry_after=settings.USDA_MAX_RETRY_AFTER if max_retry_after is None else max_retry_after,
        )
        self._session = requests.Session()
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        # Shared by every user's requests: never let a cookie from one answer ride along on the next.
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._session.headers.update({"Accept": "application/json", "User-Agent": "healthagent/1"})

    def __repr__(self) -> str:  # the key stays out of reprs, tracebacks and logs
        return f"FDCClient(api_url={self.api_url!r})"

    def close(self) -> None:
        self._session.close()

    def search(self, query: str, *, page_size: int) -> list[dict]:
        """Foods matching `query`, parsed (see parse_search_response), at most `page_size` of them."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, not {page_size}")
        url = f"{self.api_url}/v1/foods/search"
        params = {"query": query, "pageSize": page_size, "dataType": DATA_TYPES}
        started, outcome = time.perf_counter(), "network"
        deadline = time.monotonic() + self.time_budget
        _budget.latest_start = deadline - sum(self.timeout)
        try:
            # No redirects: requests would carry X-Api-Key along to whatever host a 3xx names.
            response = self._session.get(
                url, params=params, headers={"X-Api-Key": self._api_key},
                timeout=self.timeout, allow_redirects=False, stream=True,
            )
            _read_within(response, deadline, self.timeout[1])
        except requests.RequestException as exc:
            logger.warning("FDC search failed: %s: %s (%s)", type(exc).__name__, without_query(str(exc)), _tag(query))
            fdc_metrics.observe(outcome, time.perf_counter() - started)
            raise ApplicationError(UNAVAILABLE, status=503) from exc
        try:
            with response:
                foods = self._handle(response, _tag(query))
            outcome = "ok"
            return foods
        finally:
            if outcome != "ok":
                outcome = _outcome_of(response.status_code)
            fdc_metrics.observe(outcome, time.perf_counter() - started)

    def _handle(self, response: requests.Response, tag: str) -> list[dict]:
        status = response.status_code
        if status != 200:
            code = _error_code(response)
            logger.warning("FDC search answered HTTP %s %s (%s)", status, code or "", tag)
            if status in (401, 403):
                raise ApplicationError(KEY_REFUSED, status=503)
            if status == 429:
                raise ApplicationError(RATE_LIMITED, status=503)
            raise ApplicationError(UNAVAILABLE, status=503)
        try:
            payload = response.json()
        except ValueError:
            logger.warning("FDC search answered with invalid JSON (%s)", tag)
            raise ApplicationError(UNAVAILABLE, status=503) from None
        try:
            return parse_search_response(payload)
        except ApplicationError:
            logger.warning("FDC search answered JSON without a foods list (%s)", tag)
            raise


def _read_within(response: requests.Response, deadline: float, read_timeout: float) -> None:
    """Read the body, all of it by `deadline` (time.monotonic()): the read timeout bounds each wait
    for bytes, not their sum, so an upstream that trickles its answer would hold the turn (and its
    worker thread) for as long as it kept trickling. Each read waits at most what is left."""
    chunks = []
    raw = response.raw
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise requests.Timeout("the answer was still arriving when USDA_TIME_BUDGET ran out")
            sock = getattr(raw.connection, "sock", None) if raw.connection is not None else None
            if sock is not None:
                sock.settimeout(min(left, read_timeout))
            chunk = raw.read1(65536, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except requests.RequestException:
        response.close()
        raise
    except (OSError, HTTPError, ProtocolError) as exc:  # a socket timeout, a reset, a broken chunk
        response.close()
        raise requests.ConnectionError(exc) from exc
    response._content = b"".join(chunks)
    response._content_consumed = True


def _tag(query: str) -> str:
    """How a log line names a search: never the words (a user's own: "my hiv medication"), a short
    hash of them, enough to tell repeats of one query apart."""
    return f"/v1/foods/search, query #{hashlib.sha1(query.encode('utf-8', 'replace')).hexdigest()[:10]}"


def without_query(text: str) -> str:
    """An exception's text without the query strings of the URLs in it (urllib3 names the URL)."""
    return _QUERY_STRING.sub("?…", text)


_QUERY_STRING = re.compile(r"\?[^\s'\")]*")


def _outcome_of(status: int) -> str:
    """The metrics label of a search that did not succeed (nutrition/metrics.py)."""
    if status in (401, 403):
        return "refused"
    if status == 429:
        return "rate_limited"
    return "invalid" if status == 200 else "http_error"


def _error_code(response: requests.Response) -> str | None:
    """api.data.gov's error code (API_KEY_INVALID, OVER_RATE_LIMIT…), if the body has one."""
    try:
        error = response.json().get("error")
        return str(error.get("code")) if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        return None


_client: FDCClient | None = None
_client_config: tuple | None = None
_client_lock = threading.Lock()


def get_client() -> FDCClient:
    """The process-wide client, so every lookup reuses one connection pool.

    Rebuilt when the USDA_* settings it was built from change (tests point it at fake servers).
    """
    global _client, _client_config
    config = (
        settings.USDA_API_URL, settings.USDA_API_KEY, settings.USDA_CONNECT_TIMEOUT,
        settings.USDA_READ_TIMEOUT, settings.USDA_RETRIES, settings.USDA_MAX_RETRY_AFTER, settings.USDA_TIME_BUDGET,
    )
    with _client_lock:
        if _client is None or _client_config != config:
            if _client is not None:
                _client.close()
            _client, _client_config = FDCClient(), config
        return _client


# --- Parsing ---------------------------------------------------------------------------------------

# Field → (nutrient ids in order of preference, unit we store). Foundation foods often lack 1008 and
# carry Atwater energy (2048 specific, 2047 general) instead; 1062 is energy in kJ.
_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "kcal": ((1008, 2048, 2047, 1062), "KCAL"),
    "protein": ((1003,), "G"),
    "fat": ((1004, 1085), "G"),
    "carbs": ((1005,), "G"),
    "fiber": ((1079,), "G"),
    "sugars": ((2000, 1063), "G"),
    "sodium_mg": ((1093,), "MG"),
}
_TARGET_UNIT = {nid: unit for ids, unit in _FIELDS.values() for nid in ids}
# Older payloads identify a nutrient only by its number (a string, "208" for energy).
_ID_BY_NUMBER = {"208": 1008, "958": 2048, "957": 2047, "268": 1062, "203": 1003, "204": 1004,
                 "298": 1085, "205": 1005, "291": 1079, "269": 2000, "269.3": 1063, "307": 1093}
_SERVING_UNITS = {"GRM": "g", "G": "g", "MLT": "ml", "ML": "ml"}


def parse_search_response(payload: object) -> list[dict]:
    """The foods of a /v1/foods/search answer as our food dicts (ARCHITECTURE.md §6), in FDC's order.

    Raises ApplicationError (503) when the payload is not an object with a `foods` list; a single
    malformed food (no fdcId or description) is skipped.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("foods"), list):
        raise ApplicationError(UNAVAILABLE, status=503)
    return [food for food in map(parse_food, payload["foods"]) if food is not None]


def parse_food(raw: object) -> dict | None:
    """One FDC search food as a food dict, or None when it has no usable fdcId or description."""
    if not isinstance(raw, dict):
        return None
    fdc_id, description = raw.get("fdcId"), raw.get("description")
    if isinstance(fdc_id, str) and fdc_id.isdecimal():
        fdc_id = int(fdc_id)
    if isinstance(fdc_id, bool) or not isinstance(fdc_id, int) or not 0 < fdc_id < 2**63:  # BigIntegerField
        return None
    if not isinstance(description, str) or not description.strip():
        return None
    nutrients = _nutrients(raw.get("foodNutrients"))
    serving_size, serving_unit = _serving(raw.get("servingSize"), raw.get("servingSizeUnit"))
    return {
        "fdc_id": fdc_id,
        "description": description.strip(),
        "data_type": raw["dataType"] if isinstance(raw.get("dataType"), str) else "",
        "brand": _text(raw.get("brandOwner")) or _text(raw.get("brandName")),
        **{field: next((nutrients[i] for i in ids if i in nutrients), None) for field, (ids, _) in _FIELDS.items()},
        "serving_size": serving_size,
        "serving_unit": serving_unit,
        "portions": fdc_portions(raw),
        "source": "usda",
    }


def _nutrients(entries: object) -> dict[int, float]:
    """Nutrient id → value per 100 g in our unit; of a repeated id the first usable entry wins."""
    found: dict[int, float] = {}
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        nid = entry.get("nutrientId")
        if isinstance(nid, bool) or not isinstance(nid, int):
            nid = _ID_BY_NUMBER.get(str(entry.get("nutrientNumber", "")).strip())
        if nid not in _TARGET_UNIT or nid in found:
            continue
        value = convert_nutrient(entry.get("value"), entry.get("unitName"), _TARGET_UNIT[nid])
        if value is not None:
            found[nid] = value
    return found


def _serving(size: object, unit: object) -> tuple[float | None, str | None]:
    """(servingSize, unit) with FDC's GRM/MLT spelled g/ml; (None, None) without a usable size."""
    # The chained comparison also rejects NaN, infinities and integers too large for a float.
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 1e9:
        return None, None
    if not isinstance(unit, str) or not unit.strip():
        return float(size), None
    return float(size), _SERVING_UNITS.get(unit.strip().upper(), unit.strip().lower())


def _text(value: object) -> str | None:
    """Stripped text, with "" (FDC's way of saying "no brand") as None."""
    return (value.strip() or None) if isinstance(value, str) else None
