"""The language model: one chat-completions call through the `openai` SDK, behind a circuit breaker.

Any OpenAI-compatible endpoint works (hosted APIs, Ollama, vLLM, llama.cpp's server, a LiteLLM proxy):
LLM_BASE_URL, LLM_API_KEY, LLM_MODEL. Every failure — timeout, refused connection, an error status,
a reply that is not a chat completion — is one `ProviderFailed`; the caller answers with the rules.
Failures are logged by kind and status only: never the prompt, the reply or the key.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import openai
from django.conf import settings

logger = logging.getLogger(__name__)


class ProviderFailed(Exception):
    """The model gave no usable answer (the reason is a short kind, safe to log)."""


@dataclass(frozen=True)
class Completion:
    message: Any  # the assistant message: .content, .tool_calls
    tokens_in: int
    tokens_out: int


class Breaker:
    """Opens after LLM_BREAKER_FAILURES failures in a row; for LLM_BREAKER_COOLDOWN seconds no call is
    made (the rules answer at once), then one call probes it."""

    def __init__(self) -> None:
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    def allows(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return True
            if time.monotonic() - self.opened_at >= settings.LLM_BREAKER_COOLDOWN:
                self.opened_at = time.monotonic()  # one probe per cool-down
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            if self.opened_at is not None:
                logger.warning("language model answering again: agent back on")
            self.failures, self.opened_at = 0, None

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= settings.LLM_BREAKER_FAILURES and self.opened_at is None:
                logger.warning("language model failed %s times in a row: agent off for %g s", self.failures,
                               settings.LLM_BREAKER_COOLDOWN)
                self.opened_at = time.monotonic()
            elif self.opened_at is not None:
                self.opened_at = time.monotonic()


breaker = Breaker()


@functools.lru_cache(maxsize=4)
def _client(base_url: str, api_key: str, retries: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=retries, timeout=settings.LLM_TIMEOUT)


def complete(*, messages: list[dict], tools: list[dict], timeout: float, model: str | None = None) -> Completion:
    """One model call of at most `timeout` seconds (each try; LLM_MAX_RETRIES tries more at most), to
    LLM_MODEL or `model` (the vision model, on the same endpoint)."""
    if not breaker.allows():
        raise ProviderFailed("breaker open")
    client = _client(settings.LLM_BASE_URL, settings.LLM_API_KEY, settings.LLM_MAX_RETRIES)
    try:
        create: Any = client.chat.completions.create  # messages and tools are plain dicts of the same shape
        response = create(model=model or settings.LLM_MODEL, messages=messages, tools=tools, tool_choice="auto",
                          temperature=0, max_tokens=500, timeout=max(0.1, min(timeout, settings.LLM_TIMEOUT)))
        choice = response.choices[0]
        message = choice.message
        usage = response.usage
    except openai.APITimeoutError:
        breaker.failed()
        logger.warning("language model: timed out")
        raise ProviderFailed("timeout") from None
    except openai.APIStatusError as error:
        breaker.failed()
        logger.warning("language model: HTTP %s", error.status_code)
        raise ProviderFailed(f"status {error.status_code}") from None
    except openai.APIError as error:  # connection refused, a body that is not a completion
        breaker.failed()
        logger.warning("language model: %s", type(error).__name__)
        raise ProviderFailed(type(error).__name__) from None
    except (AttributeError, IndexError, TypeError, ValueError) as error:
        breaker.failed()
        logger.warning("language model: malformed reply (%s)", type(error).__name__)
        raise ProviderFailed("malformed reply") from None
    breaker.succeeded()
    return Completion(message=message, tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
                      tokens_out=getattr(usage, "completion_tokens", 0) or 0)
