"""FDCClient against a fake FoodData Central on 127.0.0.1: requests, retries, errors."""

import logging
import socket
import threading

import pytest

from healthagent.errors import ApplicationError
from nutrition.fdc import DATA_TYPES, FDCClient, get_client
from tests.nutrition.fakes import BANANA_NUTRIENTS, TEST_API_KEY, fdc_food

BANANA = {"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]}


def search(query="banana", page_size=5):
    return get_client().search(query, page_size=page_size)


def assert_key_not_logged(caplog):
    assert all(TEST_API_KEY not in record.getMessage() for record in caplog.records)


def test_api_key_travels_in_the_header_never_in_the_url(fake_fdc):
    fake_fdc.add(body=BANANA)

    foods = search("banana split", page_size=3)

    assert [food["fdc_id"] for food in foods] == [173944]
    assert foods[0]["kcal"] == 89.0
    [request] = fake_fdc.requests
    assert request.headers["X-Api-Key"] == TEST_API_KEY
    assert TEST_API_KEY not in request.raw_target
    assert "api_key" not in request.query
    assert request.path == "/v1/foods/search"
    assert request.query == {"query": ["banana split"], "pageSize": ["3"], "dataType": [DATA_TYPES]}


def test_server_error_is_retried_then_reported(fake_fdc, caplog):
    fake_fdc.add(500, raw=b"oops")

    with caplog.at_level(logging.WARNING, logger="nutrition.fdc"), pytest.raises(ApplicationError) as err:
        search()

    assert "nutrition lookups are unavailable right now" in err.value.message
    assert err.value.status == 503
    assert len(fake_fdc.requests) == 3  # the first try and USDA_RETRIES=2 retries
    assert any("500" in record.getMessage() for record in caplog.records)
    assert_key_not_logged(caplog)


def test_server_error_then_success_returns_the_foods(fake_fdc):
    fake_fdc.add(503, raw=b"")
    fake_fdc.add(body=BANANA)

    foods = search()

    assert foods[0]["description"] == "Bananas, raw"
    assert len(fake_fdc.requests) == 2


def test_rate_limit_with_retry_after_zero_is_retried(fake_fdc):
    fake_fdc.add(429, {"error": {"code": "OVER_RATE_LIMIT"}}, headers={"Retry-After": "0"})
    fake_fdc.add(body=BANANA)

    foods = search()

    assert [food["fdc_id"] for food in foods] == [173944]
    assert len(fake_fdc.requests) == 2


def test_long_retry_after_fails_fast_without_sleeping(fake_fdc, monkeypatch):
    fake_fdc.add(429, {"error": {"code": "OVER_RATE_LIMIT"}}, headers={"Retry-After": "3600"})
    slept = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)

    with pytest.raises(ApplicationError) as err:
        search()

    assert max(slept, default=0) < 1  # never the 3600 s the server asked for
    assert "rate limit" in err.value.message
    assert "nutrition lookups are unavailable right now" in err.value.message
    assert err.value.status == 503
    assert len(fake_fdc.requests) == 1


def test_rate_limit_still_there_after_retries_is_reported(fake_fdc):
    fake_fdc.add(429, {"error": {"code": "OVER_RATE_LIMIT"}}, headers={"Retry-After": "0"})

    with pytest.raises(ApplicationError) as err:
        search()

    assert "rate limit" in err.value.message
    assert len(fake_fdc.requests) == 3


def test_refused_api_key_is_reported_and_not_retried(fake_fdc, caplog):
    fake_fdc.add(403, {"error": {"code": "API_KEY_INVALID", "message": "An invalid api_key was supplied."}})

    with caplog.at_level(logging.WARNING, logger="nutrition.fdc"), pytest.raises(ApplicationError) as err:
        search()

    assert "the API key was refused" in err.value.message
    assert err.value.status == 503
    assert len(fake_fdc.requests) == 1
    assert any("API_KEY_INVALID" in record.getMessage() for record in caplog.records)
    assert_key_not_logged(caplog)


@pytest.mark.parametrize(
    "raw",
    [b"<html>not json</html>", b"[]", b'{"totalHits": 0}', b'{"foods": {"a": 1}}', b"null", b'"foods"'],
    ids=["invalid-json", "array", "no-foods", "foods-not-a-list", "null", "string"],
)
def test_malformed_bodies_are_reported_as_unavailable(fake_fdc, raw, caplog):
    fake_fdc.add(200, raw=raw)

    with caplog.at_level(logging.WARNING, logger="nutrition.fdc"), pytest.raises(ApplicationError) as err:
        search()

    assert "nutrition lookups are unavailable right now" in err.value.message
    assert err.value.status == 503
    assert [record.name for record in caplog.records] == ["nutrition.fdc"]


def test_empty_foods_list_is_an_empty_result(fake_fdc):
    fake_fdc.add(body={"totalHits": 0, "foods": []})

    assert search("xqzv") == []
    assert len(fake_fdc.requests) == 1


def test_read_timeout_is_reported_quickly_and_not_retried(fake_fdc, settings):
    settings.USDA_READ_TIMEOUT = 0.2
    fake_fdc.add(body=BANANA, delay=1.5)

    with pytest.raises(ApplicationError) as err:
        search()

    assert "nutrition lookups are unavailable right now" in err.value.message
    assert len(fake_fdc.requests) == 1


def test_connection_refused_is_reported(fake_fdc, settings, caplog):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.USDA_API_URL = f"http://127.0.0.1:{port}"

    with caplog.at_level(logging.WARNING, logger="nutrition.fdc"), pytest.raises(ApplicationError) as err:
        search()

    assert "nutrition lookups are unavailable right now" in err.value.message
    assert fake_fdc.requests == []
    ours = [record for record in caplog.records if record.name == "nutrition.fdc"]
    assert [record.levelname for record in ours] == ["WARNING"]
    assert_key_not_logged(caplog)


def test_cookies_from_one_answer_are_not_sent_with_the_next(fake_fdc):
    fake_fdc.add(body=BANANA, headers={"Set-Cookie": "session=user-a; Path=/"})

    search()
    search()

    assert [request.headers.get("Cookie") for request in fake_fdc.requests] == [None, None]


def test_redirects_are_not_followed_so_the_key_stays_home(fake_fdc):
    fake_fdc.add(302, raw=b"", headers={"Location": "http://127.0.0.2:9/steal"})

    with pytest.raises(ApplicationError) as err:
        search()

    assert err.value.status == 503
    assert len(fake_fdc.requests) == 1


def test_client_is_shared_and_rebuilt_when_settings_change(fake_fdc, settings):
    first = get_client()
    assert get_client() is first

    settings.USDA_RETRIES = 0

    rebuilt = get_client()
    assert rebuilt is not first
    assert get_client() is rebuilt


def test_page_size_outside_fdc_limits_is_a_bug(fake_fdc):
    with pytest.raises(ValueError):
        search(page_size=0)
    with pytest.raises(ValueError):
        search(page_size=201)
    assert fake_fdc.requests == []


def test_repr_does_not_show_the_key(fake_fdc):
    client = FDCClient()

    assert TEST_API_KEY not in repr(client)
    assert fake_fdc.url in repr(client)


# --- what failures log: never the user's words --------------------------------------------------------

PRIVATE = "my hiv medication"


@pytest.mark.parametrize("scripted", [
    {"status": 500}, {"status": 403, "body": {"error": {"code": "API_KEY_INVALID"}}}, {"raw": b"not json"},
    {"raw": b'{"no": "foods"}'},
])
def test_a_failed_search_logs_a_hash_of_the_query_not_the_query(fake_fdc, caplog, scripted):
    fake_fdc.add(**scripted)
    with caplog.at_level(logging.WARNING, logger="nutrition.fdc"), pytest.raises(ApplicationError):
        search(PRIVATE)
    lines = [record.getMessage() for record in caplog.records]
    assert lines and all("hiv" not in line and "medication" not in line for line in lines)
    assert any("query #" in line for line in lines)


def test_a_network_failure_logs_no_query_either(fake_fdc, settings, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.USDA_API_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with caplog.at_level(logging.WARNING, logger="nutrition.fdc"), pytest.raises(ApplicationError):
        search(PRIVATE)
    lines = [record.getMessage() for record in caplog.records]
    assert lines and all("hiv" not in line for line in lines) and any("query #" in line for line in lines)


def test_no_retry_starts_that_could_not_end_within_the_time_budget(fake_fdc, settings):
    """Three 503s: with the budget one attempt long, the first answer is the last (no retry, no
    waiting); with room for all three, all three are made."""
    settings.USDA_CONNECT_TIMEOUT, settings.USDA_READ_TIMEOUT, settings.USDA_RETRIES = 1.0, 2.0, 2
    for _ in range(3):
        fake_fdc.add(503, {})
    settings.USDA_TIME_BUDGET = 3.0
    with pytest.raises(ApplicationError):
        search("banana")
    assert len(fake_fdc.requests) == 1
    fake_fdc.requests.clear()
    settings.USDA_TIME_BUDGET = 60.0
    with pytest.raises(ApplicationError):
        search("apple")
    assert len(fake_fdc.requests) == 3


def test_an_answer_that_trickles_is_cut_off_at_the_time_budget(fake_fdc, settings):
    """An upstream that sends a byte of its body every 0.2 s never lets a read time out, so only the
    whole search's budget ends it: the turn gets the "unavailable" answer instead of waiting the
    ~20 s the body would take (and the request is made once: a slow upstream is not asked again)."""
    body = b'{"foods": []}' + b" " * 100
    stop = threading.Event()
    requests_seen = []

    def serve(listener):
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                requests_seen.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))
                for byte in body:
                    if stop.wait(0.2):
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    thread = threading.Thread(target=serve, args=(listener,), daemon=True)
    thread.start()
    settings.USDA_API_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.USDA_CONNECT_TIMEOUT, settings.USDA_READ_TIMEOUT, settings.USDA_TIME_BUDGET = 0.5, 1.0, 1.5
    try:
        with pytest.raises(ApplicationError):
            search("banana")
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)
    assert len(requests_seen) == 1
