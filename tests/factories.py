"""factory_boy factories for the project's models, shared by every app's tests."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from conversations.models import Message
from memory.models import Preference, Profile
from nutrition.models import FoodEntry


class ProfileFactory(DjangoModelFactory):
    class Meta:
        model = Profile

    # Telegram user ids are positive 64-bit integers; start high so they never look like row ids.
    telegram_id = factory.Sequence(lambda n: 1_000_000 + n)
    name = factory.Faker("first_name")
    username = factory.Sequence(lambda n: f"user{n}")


class PreferenceFactory(DjangoModelFactory):
    class Meta:
        model = Preference

    user = factory.SubFactory(ProfileFactory)
    key = factory.Sequence(lambda n: f"key{n}")
    value = "value"


class MessageFactory(DjangoModelFactory):
    class Meta:
        model = Message

    user = factory.SubFactory(ProfileFactory)
    role = Message.Role.USER
    content = factory.Faker("sentence")
    telegram_message_id = factory.Sequence(lambda n: n + 1)


class FoodEntryFactory(DjangoModelFactory):
    """150 g of banana (SR Legacy 173944), nutrients already scaled to the amount."""

    class Meta:
        model = FoodEntry

    user = factory.SubFactory(ProfileFactory)
    fdc_id = 173944
    description = "Bananas, raw"
    grams = Decimal("150.0")
    kcal = Decimal("133.5")
    protein = Decimal("1.6")
    fat = Decimal("0.5")
    carbs = Decimal("34.3")
