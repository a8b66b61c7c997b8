"""Which nutrition data source answers a lookup: USDA FoodData Central or the offline sample set."""

from __future__ import annotations

from typing import Protocol

from django.conf import settings

from nutrition.fdc import get_client
from nutrition.sample import SampleProvider


class Provider(Protocol):
    def search(self, query: str, *, page_size: int) -> list[dict]: ...


_SAMPLE = SampleProvider()


def get_provider() -> Provider:
    """The provider NUTRITION_PROVIDER names, read per call so a settings change takes effect."""
    if settings.NUTRITION_PROVIDER == "sample":
        return _SAMPLE
    if settings.NUTRITION_PROVIDER == "usda":
        return get_client()
    raise ValueError(f"unknown NUTRITION_PROVIDER {settings.NUTRITION_PROVIDER!r}")  # settings validates it
