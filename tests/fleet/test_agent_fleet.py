"""The agent's cached answers across processes: a question answered (and cached) through one worker,
the profile changed through the other, the same question again — answered from the new profile,
never from the cached answer. The negative control keys answers without the context's versions and
does see the old answer."""

from __future__ import annotations

import pytest

from tools.fake_llm import TEST_LLM_KEY, FakeLLM, by_tool
from tests.fleet.harness import Driver, Fleet, Tally, rounds

pytestmark = pytest.mark.fleet
QUESTION = "wie schwer bin ich gerade?"


@pytest.fixture(scope="module")
def llm():
    server = FakeLLM(by_tool("read_profile", {}, lambda results: f"Du wiegst {results[0]['profile']['weight_kg']} kg."))
    yield server
    server.close()
    assert not server.invalid


def _fleet(tmp_path_factory, llm, name: str, off: str = "") -> Fleet:
    return Fleet(tmp_path_factory.mktemp(name), mechanism_off=off, LLM_BASE_URL=llm.url, LLM_API_KEY=TEST_LLM_KEY,
                 LLM_MODEL="fake-model", LLM_TIMEOUT="5", LLM_MAX_RETRIES="0")


def _rounds(fleet: Fleet, llm: FakeLLM, user_id: int, count: int) -> tuple[list, int, int]:
    """(stale answers, answers served from the cache, rounds) over `count` rounds."""
    driver, a, b = Driver(Tally()), *fleet.workers
    stale, cached = [], 0
    for round_no in range(count):
        weight = 60 + round_no
        assert "Saved" in (driver.turn(b, user_id, f"/set weight_kg {weight}") or "")
        for worker in (a, b):  # asked through both: the first asks the model, the second finds its answer
            sent = len(llm.requests)
            reply = driver.turn(worker, user_id, QUESTION) or ""
            cached += len(llm.requests) == sent
            if f"Du wiegst {weight}.0 kg." not in reply:
                stale.append((round_no, worker.name, weight, reply[:80]))
    assert driver.tally.failed == []
    return stale, cached, count


def test_no_cached_answer_outlives_a_change_of_the_context_it_read(tmp_path_factory, llm):
    fleet = _fleet(tmp_path_factory, llm, "agent")
    try:
        stale, cached, count = _rounds(fleet, llm, 5101, max(30, rounds()))
    finally:
        fleet.stop()
    assert stale == [], stale[:5]
    assert cached >= count - 1  # every second ask is answered from the cache, across processes


def test_negative_control_answers_keyed_without_versions_go_stale(tmp_path_factory, llm):
    fleet = _fleet(tmp_path_factory, llm, "agent-off", off="agentversions")
    try:
        stale, _, count = _rounds(fleet, llm, 5102, 6)
    finally:
        fleet.stop()
    assert len(stale) >= count - 1, "without the context's versions in the key the old answer must be seen"
