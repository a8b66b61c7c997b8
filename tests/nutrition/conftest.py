"""Fixtures for the nutrition tests."""

import pytest

from tests.nutrition.fakes import TEST_API_KEY, FakeFDC


@pytest.fixture
def fake_fdc(settings):
    """A running fake FDC with the USDA_* settings pointed at it (small timeouts, 2 retries)."""
    server = FakeFDC()
    settings.USDA_API_URL = server.url
    settings.USDA_API_KEY = TEST_API_KEY
    settings.USDA_CONNECT_TIMEOUT = 1.0
    settings.USDA_READ_TIMEOUT = 2.0
    settings.USDA_RETRIES = 2
    settings.USDA_MAX_RETRY_AFTER = 1.0
    settings.NUTRITION_PROVIDER = "usda"
    yield server
    server.close()
