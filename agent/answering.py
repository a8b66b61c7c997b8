"""One agent turn: the cached answer when the context it read is unchanged, else the model with the
bot's tools — within a time budget and the user's daily token budget — or None: the caller answers
with the rules (a provider error, timeout, open breaker, spent budget, a malformed tool call).

The cache (caching.api, namespace `agent`, docs/ARCHITECTURE.md "The agent"): an answer is kept
under the normalised question, the model, the prompt version, the user's day and the *versions* of
the context its tools read — user memory (a digest of the entry this turn read fresh), today's diary
(a digest of its rows) and, for a follow-up, the conversation (its last message id). The lookup
computes every candidate key from the current versions, so a changed context is a miss with nothing
to delete. An answer that read no context is shared by every user; a turn whose tools wrote
anything is never kept.

The model is asked outside the turn's transaction (healthagent/upstream.py): inside it, a miss of
the answer cache raises CallOutside, the turn rolls back, `_outside` asks the model with the context
this attempt read (its tools read, and plan their writes: agent/tools.py), and the turn runs again:
it finds the outcome in the update's memo and makes the planned writes, after its claim.
"""

from __future__ import annotations

import functools
import hashlib
import html
import itertools
import json
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from caching.api import (agent_answer_key, agent_budget_key, agent_flight_key, answer_lookup, answer_single_flight,
                         budget_add, budget_spent, count_model_call)
from healthagent import upstream
from healthagent.errors import ApplicationError
from nutrition.selectors import local_today

from . import provider
from .prompt import PROMPT_VERSION, system_prompt
from .tools import DIARY, HISTORY, MEMORY, SCHEMAS, TOOLS, Plan, Run, apply

logger = logging.getLogger(__name__)
FOLLOW_UP_MESSAGES = 6  # the conversation sent with a reply to the agent's own question
_TAG = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class AgentReply:
    text: str  # the model's answer, plain text ("" when it gave none but the tools wrote)
    notes: tuple[str, ...] = ()  # what the bot itself recorded this turn, plain text
    cached: bool = False


class _Unanswered(Exception):
    def __init__(self, reason: str, notes: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason, self.notes = reason, notes


def enabled(memory: dict | None) -> bool:
    """Whether free text the rules do not understand goes to the model for this user. Costs nothing
    when no model is configured (one setting)."""
    return settings.LLM_ENABLED and ((memory or {}).get("preferences") or {}).get("ai") != "off"


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _digest(value: object) -> str:
    data = json.dumps(value, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16]


def _follow_up(history: tuple[dict, ...]) -> list[dict]:
    """The last messages when the bot's last reply asked something (this message may answer it)."""
    if not history or history[-1]["role"] != "assistant" or not history[-1]["content"].rstrip().endswith("?"):
        return []
    return [{"role": m["role"], "content": html.unescape(_TAG.sub("", m["content"]))[:1000]}
            for m in history[-FOLLOW_UP_MESSAGES:]]


def answer(*, user_id: int, memory: dict, history: tuple[dict, ...], tz: str | None, text: str) -> AgentReply | None:
    question, today = normalise(text), local_today(tz)
    earlier = _follow_up(history)
    said = " ".join([text, *(m["content"] for m in earlier if m["role"] == "user")])
    run = Run(user_id=user_id, memory=memory, tz=tz, today=today, said=said)
    versions = {MEMORY: _digest(memory), DIARY: _digest(run.today_diary())}
    if earlier:
        versions[HISTORY] = str(history[-1].get("id"))
    scope = {"question": question, "model": settings.LLM_MODEL, "prompt_version": PROMPT_VERSION,
             "day": today.isoformat()}
    candidates = _candidates(scope, user_id, versions, follow_up=bool(earlier))
    # Not keyed by the versions: an attempt more must find what this update's model said, even if
    # another turn changed the context in between (the answer then is as old as the model's call).
    asked = ("agent", user_id, question)
    # This update's own outcome first: the attempt that asked the model may have kept its answer.
    found = None if upstream.kept(asked) else answer_lookup(candidates)
    if found is not None:
        logger.info("agent: user %s answered from the cache", user_id)
        return AgentReply(text=found["text"], cached=True)
    outcome = upstream.outside(asked, lambda: _outside(run, text, earlier, scope, versions, candidates))
    if outcome is None:
        return None
    notes = (*outcome.notes, *apply(user_id=user_id, plans=outcome.plans))
    if not outcome.text and not notes:
        return None
    return AgentReply(text=outcome.text, notes=notes)


@dataclass(frozen=True)
class _Outcome:
    """What the model answered, and the writes its tools planned (made inside the turn)."""

    text: str
    notes: tuple[str, ...]
    plans: tuple[Plan, ...]


def _outside(run: Run, text: str, earlier: list[dict], scope: dict, versions: dict[str, str],
             candidates: list[str]) -> _Outcome | None:
    user_id = run.user_id
    if _spent(user_id, run.today.isoformat()) >= settings.LLM_DAILY_TOKENS:
        logger.info("agent: user %s spent today's token budget: answered by the rules", user_id)
        return None
    slots = _slots(settings.LLM_CONCURRENCY)
    if not slots.acquire(blocking=False):  # this process's turns waiting on the model are at the limit
        logger.info("agent: user %s answered by the rules (LLM_CONCURRENCY turns already wait)", user_id)
        return None
    try:
        return _asked(run, text, earlier, scope, versions, candidates)
    finally:
        slots.release()


def _asked(run: Run, text: str, earlier: list[dict], scope: dict, versions: dict[str, str],
           candidates: list[str]) -> _Outcome | None:
    user_id, question = run.user_id, scope["question"]
    deadline = time.monotonic() + settings.LLM_TURN_BUDGET

    def compute() -> tuple[dict, str | None]:
        reply = _converse(run, text, earlier, deadline)
        reads = run.reads | ({HISTORY} if earlier else set())
        keep = not run.wrote and reads <= versions.keys()
        key = _key(scope, user_id, {name: versions[name] for name in reads}) if keep else None
        return {"text": reply}, key

    try:
        # A follow-up is the user's own whatever it says: no one else's flight to wait for.
        flight = agent_flight_key(**{**scope, "question": f"{user_id}:{question}" if earlier else question})
        found, _ = answer_single_flight(flight=flight, keys=candidates, compute=compute,
                                        timeout=settings.CACHE_TTL_AGENT,
                                        wait=max(0.1, deadline - time.monotonic()))
    except _Unanswered as unanswered:
        logger.info("agent: user %s answered by the rules (%s)", user_id, unanswered.reason)
        # What the tools planned before it stopped is still made: the user said it.
        return _Outcome(text="", notes=unanswered.notes, plans=tuple(run.plans)) if unanswered.notes or run.plans else None
    return _Outcome(text=found["text"], notes=tuple(run.notes), plans=tuple(run.plans))


@functools.lru_cache(maxsize=4)
def _slots(size: int) -> threading.BoundedSemaphore:
    """The turns of this process that may wait on the model at once (calling it, or waiting for
    another's call of the same question): each holds a worker thread while it waits (no transaction,
    no database connection: it waits outside the turn's), so a slow provider must not take them all
    from the turns that need no model."""
    return threading.BoundedSemaphore(size)


def _key(scope: dict, user_id: int, context: dict[str, str]) -> str:
    return agent_answer_key(**scope, user_id=user_id if context else None, context=context)


def _candidates(scope: dict, user_id: int, versions: dict[str, str], *, follow_up: bool) -> list[str]:
    """Every key an answer that is still right could be under: the shared one (no context read), then
    the user's for each set of entries it could have read (a follow-up always read the conversation)."""
    optional = [name for name in versions if name != HISTORY]
    keys = []
    for size in range(len(optional) + 1):
        for names in itertools.combinations(optional, size):
            context = {name: versions[name] for name in (*names, *((HISTORY,) if follow_up else ()))}
            keys.append(_key(scope, user_id, context))
    return keys


_local_spent: dict[tuple[int, str], int] = {}
_local_lock = threading.Lock()


def _spent(user_id: int, day: str) -> int:
    """Tokens the user spent today: the fleet's count in Redis, or this process's own when Redis
    cannot say (so an outage does not lift the budget)."""
    with _local_lock:
        local = _local_spent.get((user_id, day), 0)
    return max(budget_spent(agent_budget_key(user_id, day)) or 0, local)


def _spend(user_id: int, day: str, tokens: int) -> None:
    with _local_lock:
        if len(_local_spent) > 10_000:
            _local_spent.clear()
        _local_spent[(user_id, day)] = _local_spent.get((user_id, day), 0) + tokens
    budget_add(agent_budget_key(user_id, day), tokens, timeout=2 * 86400)


def _converse(run: Run, text: str, earlier: list[dict], deadline: float) -> str:
    messages: list[dict] = [{"role": "system", "content": system_prompt(day=run.today.isoformat())}, *earlier,
                            {"role": "user", "content": text}]
    for _ in range(settings.LLM_MAX_STEPS):
        remaining = deadline - time.monotonic()
        if remaining < 0.2:
            raise _Unanswered("time budget", tuple(run.notes))
        upstream.release_connections()  # a tool may have read the database: not held while the model thinks
        try:
            completion = provider.complete(messages=messages, tools=SCHEMAS, timeout=remaining)
        except provider.ProviderFailed as failed:
            raise _Unanswered(str(failed), tuple(run.notes)) from None
        count_model_call(tokens_in=completion.tokens_in, tokens_out=completion.tokens_out)
        _spend(run.user_id, run.today.isoformat(), completion.tokens_in + completion.tokens_out)
        message = completion.message
        calls = getattr(message, "tool_calls", None) or []
        if not calls:
            content = (getattr(message, "content", None) or "").strip()
            if not content:
                raise _Unanswered("empty answer", tuple(run.notes))
            return content[:3000]
        messages.append({"role": "assistant", "content": message.content or None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.function.name,
                                                             "arguments": call.function.arguments}}
            for call in calls]})
        for call in calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": _call_tool(run, call)})
    raise _Unanswered("too many steps", tuple(run.notes))


def _call_tool(run: Run, call: Any) -> str:
    name = getattr(call.function, "name", None)
    tool = TOOLS.get(name) if isinstance(name, str) else None
    try:
        arguments = json.loads(call.function.arguments or "{}")
        if tool is None or not isinstance(arguments, dict):
            raise ValueError("unknown tool")
        result = tool(run, **arguments)
    except ApplicationError as refusal:  # the bot's own refusal: the model is told, as a user would be
        result = {"error": refusal.message}
    except (TypeError, ValueError) as error:
        logger.warning("agent: malformed tool call (%s)", type(error).__name__)
        raise _Unanswered("malformed tool call", tuple(run.notes)) from None
    return json.dumps(result, default=str, ensure_ascii=False)[:4000]
