"""Slow upstreams are called outside the turn's transaction (healthagent/upstream.py): an FDC search
and a model call are made with no transaction open, a redelivery that arrives meanwhile never makes
a turn write twice, and a slow FDC holds at most USDA_CONCURRENCY turns of a process.

Real transactions (`transaction=True`): `connection.in_atomic_block` is what the assertions read."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from agent import answering, provider
from conversations.models import Message, ProcessedUpdate
from healthagent import upstream
from healthagent.errors import ApplicationError
from memory.models import Profile
from nutrition import selectors
from nutrition.models import FoodEntry
from tests.agent.conftest import fake_llm  # noqa: F401 (a fixture)
from tests.agent.fakes import by_tool
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food
from tests.telegram import make_update

pytestmark = pytest.mark.django_db(transaction=True)

BANANA = {"foods": [fdc_food(1105314, "Bananas, ripe and slightly ripe, raw", BANANA_NUTRIENTS)]}


@pytest.fixture(autouse=True)
def _shared_database():
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database is not shared between threads")


def _post(secret: str, update: dict) -> dict:
    try:
        response = Client().post("/telegram/webhook/", data=json.dumps(update), content_type="application/json",
                                 HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret)
        assert response.status_code == 200
        return json.loads(response.content)
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def _state() -> tuple[bool, bool]:
    return connection.in_atomic_block, connection.connection is not None


@pytest.fixture
def fdc_calls(monkeypatch):
    """Each FDC search a turn makes: (a transaction open in the calling thread, its database
    connection still held rather than given back to the pool)."""
    seen: list[tuple[bool, bool]] = []
    real = selectors._fetch_foods

    def fetch(query: str, limit: int) -> list[dict]:
        seen.append(_state())
        return real(query, limit)

    monkeypatch.setattr(selectors, "_fetch_foods", fetch)
    return seen


@pytest.fixture
def usda(fake_fdc, webhook_secret, settings):
    settings.BOT_TURNS_PER_MINUTE = 100_000
    fake_fdc.add(200, BANANA)
    _post(webhook_secret, make_update("/start"))
    return fake_fdc


def test_a_food_lookup_is_made_with_no_transaction_open(usda, fdc_calls, webhook_secret):
    body = _post(webhook_secret, make_update("/log 150 g banana"))
    assert "Banana" in body["text"]
    assert fdc_calls == [(False, False)]
    assert FoodEntry.objects.get(user_id=42).grams == 150


def test_with_the_cache_off_the_turn_reads_its_own_lookup_and_makes_it_once(usda, fdc_calls, webhook_secret,
                                                                             monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(cache, "get", lambda key, default=None, **kwargs: default)  # every read misses
    monkeypatch.setattr(cache, "get_or_set", lambda key, default, **kwargs: default())
    body = _post(webhook_secret, make_update("I had 150 g banana and 100 g banana"))
    assert "Banana" in body["text"]
    assert fdc_calls == [(False, False)]  # one query, one upstream call, made outside
    assert FoodEntry.objects.filter(user_id=42).count() == 2


def test_an_upstream_error_is_kept_for_the_turn_and_answered(usda, fdc_calls, webhook_secret, monkeypatch):
    def unavailable(query: str, limit: int) -> list[dict]:
        fdc_calls.append(_state())
        raise ApplicationError("Sorry, nutrition lookups are unavailable right now.", status=503)

    monkeypatch.setattr(selectors, "_fetch_foods", unavailable)
    body = _post(webhook_secret, make_update("/log 150 g banana"))
    assert "unavailable" in body["text"]
    assert fdc_calls == [(False, False)]
    assert not FoodEntry.objects.exists()


def test_a_redelivery_while_the_lookup_runs_does_not_log_twice(usda, webhook_secret, monkeypatch):
    """The claim is rolled back while the lookup runs, so a redelivery can take the update then: it
    runs the turn (its lookup gets the first's answer: one FDC call) and commits; the first delivery's
    next attempt finds the claim and answers with the stored reply. One entry, one message, the same
    answer twice."""
    update = make_update("/log 150 g banana", update_id=777_001)
    real, answers, calls = selectors._fetch_foods, [], []
    second = threading.Thread(target=lambda: answers.append(_post(webhook_secret, update)))

    def fetch(query: str, limit: int) -> list[dict]:
        calls.append(_state())
        if len(calls) == 1:  # the first delivery is outside its transaction: Telegram sends it again
            second.start()
        return real(query, limit)

    real_attempts = upstream._attempts

    def attempts(turn):
        runs = 0

        def counted():
            nonlocal runs
            runs += 1
            if runs == 2 and threading.current_thread() is threading.main_thread():
                # Not joined inside the lookup: the redelivery's own lookup waits for that one's answer.
                second.join(30)
                assert not second.is_alive()
            return turn()

        return real_attempts(counted)

    monkeypatch.setattr(selectors, "_fetch_foods", fetch)
    monkeypatch.setattr(upstream, "_attempts", attempts)
    first = _post(webhook_secret, update)
    assert answers == [first]
    assert calls == [(False, False)]
    assert FoodEntry.objects.filter(user_id=42).count() == 1
    assert Message.objects.filter(role="user", content="/log 150 g banana").count() == 1
    assert ProcessedUpdate.objects.filter(pk=777_001).count() == 1


def test_past_usda_concurrency_a_turn_is_told_the_food_database_is_slow_at_once(usda, webhook_secret, settings,
                                                                                  monkeypatch):
    settings.USDA_CONCURRENCY = 1
    entered, release = threading.Event(), threading.Event()
    real, calls = selectors._fetch_foods, []

    def fetch(query: str, limit: int) -> list[dict]:
        calls.append(query)
        entered.set()
        assert release.wait(30)
        return real(query, limit)

    monkeypatch.setattr(selectors, "_fetch_foods", fetch)
    answers: list[dict] = []
    slow = threading.Thread(target=lambda: answers.append(_post(webhook_secret, make_update("/food banana"))))
    slow.start()
    try:
        assert entered.wait(30)
        told = _post(webhook_secret, make_update("/log 100 g apple", user_id=43, first_name="Bo"))
        assert "food database is slow" in told["text"]
        assert calls == ["banana"]  # no second FDC call
        assert not FoodEntry.objects.exists()
    finally:
        release.set()
        slow.join(30)
    assert "Banana" in answers[0]["text"]


def test_a_turn_needing_more_calls_than_the_limit_still_answers(monkeypatch):
    monkeypatch.setattr(upstream, "MAX_ATTEMPTS", 2)
    made: list[int] = []

    def turn() -> int:
        with upstream.in_transaction():
            return sum(upstream.outside(n, lambda n=n: made.append(n) or n) for n in range(4))

    assert upstream.attempts(turn) == 6
    assert made == [0, 1, 2, 3]  # each call made once: two outside, the last two in the final attempt


# --- the model ------------------------------------------------------------------------------------
@pytest.fixture
def ada(db):
    return Profile.objects.create(telegram_id=42, name="Ada")


@pytest.fixture
def model_calls(monkeypatch):
    seen: list[tuple[bool, bool]] = []
    real = provider.complete

    def complete(**kwargs):
        seen.append(_state())
        return real(**kwargs)

    monkeypatch.setattr(provider, "complete", complete)
    return seen


def test_the_model_is_asked_with_no_transaction_open_and_its_writes_made_in_the_turn(
        ada, fake_llm, model_calls, webhook_secret, settings):  # noqa: F811
    settings.NUTRITION_PROVIDER = "sample"
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "eggs", "amount": "2", "said": "zwei"}]},
                                 lambda results: "Ich habe 2 Eier eingetragen.")
    body = _post(webhook_secret, make_update("Ich habe zwei Eier gegessen"))
    assert "Logged: 2 eggs (you said “zwei”)" in body["text"]
    assert model_calls == [(False, False)] * 2  # the tool call and the answer
    assert FoodEntry.objects.filter(user_id=42).count() == 1


def test_a_redelivery_while_the_model_answers_does_not_log_twice(ada, fake_llm, model_calls, webhook_secret,
                                                                 settings, monkeypatch):  # noqa: F811
    """As for a lookup: the second delivery comes once the first has its model's answer, outside its
    transaction (inside the model's call it would wait on the first's single flight)."""
    settings.NUTRITION_PROVIDER = "sample"
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "eggs", "amount": "2", "said": "zwei"}]},
                                 lambda results: "Ich habe 2 Eier eingetragen.")
    update = make_update("Ich habe zwei Eier gegessen", update_id=777_002)
    real, answers, redelivered = answering._outside, [], []

    def outside(*args, **kwargs):
        outcome = real(*args, **kwargs)
        if not redelivered:
            redelivered.append(True)
            second = threading.Thread(target=lambda: answers.append(_post(webhook_secret, update)))
            second.start()
            second.join()
        return outcome

    monkeypatch.setattr(answering, "_outside", outside)
    first = _post(webhook_secret, update)
    assert answers == [first]
    assert "Logged: 2 eggs" in first["text"]
    assert model_calls == [(False, False)] * 4  # each delivery asked the model (tool call, answer); the second's writes count
    assert FoodEntry.objects.filter(user_id=42).count() == 1
    assert ProcessedUpdate.objects.filter(pk=777_002).count() == 1


def test_a_tool_that_reads_the_database_gives_its_connection_back_before_the_next_model_call(
        ada, fake_llm, model_calls, webhook_secret, settings):  # noqa: F811
    settings.NUTRITION_PROVIDER = "sample"
    fake_llm.responder = by_tool("read_diary", {"day": "yesterday"}, lambda results: "Gestern: nichts.")
    body = _post(webhook_secret, make_update("Was habe ich gestern gegessen, bitte?"))
    assert "Gestern: nichts." in body["text"]
    assert model_calls == [(False, False)] * 2  # the second comes after the tool's query
