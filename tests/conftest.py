import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts and ends with an empty cache, real Redis or embedded."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def webhook_secret(settings):
    settings.TELEGRAM_WEBHOOK_SECRET = "test-secret_123"
    return settings.TELEGRAM_WEBHOOK_SECRET
