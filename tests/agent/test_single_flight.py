"""The same question asked by many users at once costs one model call (single flight through Redis),
and a question whose answer is each user's own is not held up behind another user's."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from agent import answering, tools
from caching.consistency import answers
from tests.agent.fakes import by_tool, calls, last, text

ASKERS = 20


@pytest.fixture(autouse=True)
def _empty_diaries(monkeypatch):
    """Each asker's diary is empty, and read without a database: twenty threads holding a pooled
    connection each would wait on the pool (2 × cores + 5), not on the flight this measures."""
    def empty(*, user_id, day, tz):
        return {"day": day, "entries": [], "kcal": 0, "protein": 0, "fat": 0, "carbs": 0}

    monkeypatch.setattr(tools, "diary_day", empty)


class _Clock:
    """`answers.time` for the test: counts the threads that are waiting for the leader (they poll,
    pausing with sleep), and lets the leader's model call go once all the others wait."""

    def __init__(self, waiters: int) -> None:
        self.waiting: set[int] = set()
        self.all_waiting = threading.Event()
        self.waiters, self.lock = waiters, threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.waiting.add(threading.get_ident())
            if len(self.waiting) >= self.waiters:
                self.all_waiting.set()
        time.sleep(seconds)


def _ask_together(question: str) -> list:
    barrier, results = threading.Barrier(ASKERS), [None] * ASKERS

    def ask(i: int) -> None:
        barrier.wait()
        try:
            results[i] = answering.answer(user_id=7000 + i, memory={}, history=(), tz=None, text=question)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(ASKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_twenty_users_asking_at_once_cost_one_model_call(fake_llm, monkeypatch, settings):
    settings.NUTRITION_PROVIDER = "sample"
    # The leader's call is held until every other asker waits: on a busy machine that may take longer
    # than the fixture's 2 s timeout, which would fail the call and let the waiters ask themselves.
    settings.LLM_TIMEOUT, settings.LLM_TURN_BUDGET = 60.0, 90.0
    clock = _Clock(ASKERS - 1)
    monkeypatch.setattr(answers, "time", clock)

    def respond(request):
        if last(request)["role"] == "user":
            assert clock.all_waiting.wait(30), "the other askers never waited for the leader"
            return calls(("lookup_food", {"query": "banana"}))
        return text("A banana has about 89 kcal per 100 g.")

    fake_llm.responder = respond
    results = _ask_together("How many calories are in a banana, roughly?")
    assert all(r is not None and "89 kcal" in r.text for r in results)
    assert len(fake_llm.requests) == 2  # one question: its tool call and its answer
    assert sum(not r.cached for r in results) == ASKERS  # none was a hit before the flight


def test_answers_that_are_each_users_own_are_computed_for_each(fake_llm, settings):
    settings.NUTRITION_PROVIDER = "sample"
    fake_llm.responder = by_tool("read_profile", {}, lambda results: "Your profile is empty.")
    results = _ask_together("what do you know about me, then?")
    assert all(r is not None and "empty" in r.text for r in results)
    assert len(fake_llm.requests) == 2 * ASKERS


def test_past_llm_concurrency_turns_get_the_rules_at_once(fake_llm, settings):
    """A slow provider holds at most LLM_CONCURRENCY turns of a process (each a thread and a database
    connection); the next is answered by the rules without a request."""
    settings.LLM_CONCURRENCY = 1
    called, release = threading.Event(), threading.Event()

    def respond(request):
        called.set()
        assert release.wait(30)
        return text("slow answer")

    fake_llm.responder = respond
    results = []

    def first() -> None:
        try:
            results.append(answering.answer(user_id=8001, memory={}, history=(), tz=None, text="a slow question?"))
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert called.wait(30)
        assert answering.answer(user_id=8002, memory={}, history=(), tz=None, text="another question?") is None
        assert len(fake_llm.requests) == 1
    finally:
        release.set()
        thread.join(30)
    assert results[0].text == "slow answer"
