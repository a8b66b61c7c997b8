import pytest

from agent import answering, provider
from tests.agent.fakes import TEST_LLM_KEY, FakeLLM


@pytest.fixture
def fake_llm(settings):
    """A running fake OpenAI-compatible server with the LLM_* settings pointed at it."""
    server = FakeLLM()
    settings.LLM_BASE_URL, settings.LLM_API_KEY, settings.LLM_MODEL = server.url, TEST_LLM_KEY, "fake-model"
    settings.LLM_ENABLED = True
    settings.LLM_TIMEOUT, settings.LLM_MAX_RETRIES, settings.LLM_TURN_BUDGET = 2.0, 0, 5.0
    settings.LLM_CONCURRENCY = 64
    _fresh()
    yield server
    server.close()
    _fresh()
    assert not server.invalid, f"requests that break the chat-completions schema: {server.invalid}"


def _fresh():
    provider.breaker.failures, provider.breaker.opened_at = 0, None
    provider._client.cache_clear()
    answering._local_spent.clear()
