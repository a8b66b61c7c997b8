"""The agent's cached answers across processes: a question answered (and cached) through one worker,
the profile changed through the other, the same question again — answered from the new profile,
never from the cached answer. Then the same through every Redis fault of tests/fleet/test_faults.py
(the profile changed while Redis is faulty, the answer checked during the fault and after it). The
negative control keys answers without the context's versions and does see the old answer."""

from __future__ import annotations

import json
import re

import pytest

from tools.fake_llm import TEST_LLM_KEY, FakeLLM, by_tool
from tests.fleet.harness import Driver, Fleet, Tally, rounds, wait_for_breakers
from tests.fleet.test_faults import FAULTS, SUMMARY

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


def _said(reply: str) -> int | None:
    """The weight the model's answer names, or None (no answer from the model: the rules' reply)."""
    found = re.search(r"Du wiegst (\d+)\.0 kg\.", reply)
    return int(found.group(1)) if found else None


@pytest.fixture(scope="module")
def faulty_fleet(tmp_path_factory, llm):
    fleet = _fleet(tmp_path_factory, llm, "agent-faults")
    yield fleet
    fleet.stop()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_no_cached_answer_outlives_a_change_made_while_redis_is_faulty(faulty_fleet, llm, fault):
    """Each round: the answer cached through both workers; a fault hits Redis; the weight changes
    through one worker (acknowledged) and the question is asked there during the fault; Redis
    recovers; both workers are asked, the other one first (it never saw the fault), and again once
    every breaker has closed. Any answer naming another weight than the last acknowledged one is
    stale. During the fault the rules may answer instead of the model (counted, not stale); after
    it, every answer must come from the model with the new weight."""
    fleet, driver, stale, unanswered_during_fault = faulty_fleet, Driver(Tally()), [], 0
    count = max(10, rounds() // 3)
    a, b = fleet.workers
    for round_no in range(count):
        user_id, before, after = 5200 + 100 * list(FAULTS).index(fault) + round_no, 60 + round_no, 120 + round_no
        wait_for_breakers(fleet.workers)
        assert "Saved" in (driver.turn(b, user_id, f"/set weight_kg {before}") or "")
        for worker in (a, b):
            said = _said(driver.turn(worker, user_id, QUESTION) or "")
            if said != before:
                stale.append((round_no, worker.name, "before", before, said))
        recover = FAULTS[fault](fleet.redis)
        try:
            reply = driver.turn(b, user_id, f"/set weight_kg {after}", during_fault=True) or ""
            assert "Saved" in reply, (fault, round_no, reply[:120])
            said = _said(driver.turn(b, user_id, QUESTION, during_fault=True) or "")
            unanswered_during_fault += said is None
            if said is not None and said != after:
                stale.append((round_no, b.name, "during", after, said))
        finally:
            recover()
        for phase in ("recovered", "breakers closed"):
            for worker in (a, b):
                said = _said(driver.turn(worker, user_id, QUESTION) or "")
                if said != after:
                    stale.append((round_no, worker.name, phase, after, said))
            wait_for_breakers(fleet.workers)
    tally = driver.tally
    summary = {"rounds": count, "turns": tally.turns, "reads": {"agent": 5 * count}, "stale": len(stale),
               "failed": len(tally.failed), "slow_during_fault": len(tally.slow),
               "slowest_during_fault_s": round(tally.slowest_during_fault, 3),
               "rules_answered_during_fault": unanswered_during_fault}
    SUMMARY.mkdir(parents=True, exist_ok=True)
    (SUMMARY / f"agent_{fault}.json").write_text(json.dumps(summary, indent=2))
    print(f"\nfleet agent {fault}: {summary}")
    assert driver.tally.failed == [], driver.tally.failed[:5]
    assert stale == [], stale[:5]
