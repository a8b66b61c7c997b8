from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Profile(models.Model):
    """A Telegram user's profile: the "user memory" the bot reads every turn."""

    class Sex(models.TextChoices):
        MALE = "male"
        FEMALE = "female"
        OTHER = "other"

    class Activity(models.TextChoices):
        SEDENTARY = "sedentary"
        LIGHT = "light"
        MODERATE = "moderate"
        ACTIVE = "active"
        VERY_ACTIVE = "very_active"

    class Goal(models.TextChoices):
        LOSE = "lose"
        MAINTAIN = "maintain"
        GAIN = "gain"

    telegram_id = models.BigIntegerField(primary_key=True, verbose_name="Telegram user id")
    name = models.CharField(max_length=100, blank=True)
    username = models.CharField(max_length=64, blank=True)
    age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(13), MaxValueValidator(120)]
    )
    sex = models.CharField(max_length=10, choices=Sex.choices, blank=True)
    height_cm = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(50), MaxValueValidator(272)],
    )
    weight_kg = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(20), MaxValueValidator(400)],
    )
    activity = models.CharField(max_length=12, choices=Activity.choices, blank=True)
    goal = models.CharField(max_length=10, choices=Goal.choices, blank=True)
    kcal_target = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(800), MaxValueValidator(10000)]
    )
    # An IANA time zone name ("Europe/Berlin"); blank: settings.TIME_ZONE. Where /today's day starts.
    tz = models.CharField(max_length=64, blank=True, verbose_name="time zone")
    # The language the user chose with /set language (en, de, es); blank: Telegram's language_code.
    language = models.CharField(max_length=8, blank=True, choices=[("en", "English"), ("de", "Deutsch"),
                                                                   ("es", "Español")])
    # The language Telegram last reported for the user's app (`language_code`, reduced to one the bot
    # speaks, else "en"): what messages the bot starts outside a turn (the evening summary) are in
    # when `language` is blank. A database default too: a process still on the code before it inserts
    # profiles without the column.
    app_language = models.CharField(max_length=8, blank=True, default="", db_default="")
    # When the bot last said it reads text only (a photo or sticker came): said once per conversation.
    text_only_notice_at = models.DateTimeField(null=True, blank=True)
    # The question the bot asked and waits for an answer to ("How much butter?"), with what it
    # needs to act on the answer; null when none. Kept here, in the cached user memory, so the next
    # message sees it whichever worker it reaches, at no extra query.
    pending = models.JSONField(null=True, blank=True)
    # When Telegram last said the user blocked the bot (403, or a my_chat_member "kicked"): messages
    # the bot would start are not sent. Cleared when they unblock it. Not part of the cached memory.
    blocked_at = models.DateTimeField(null=True, blank=True)
    # Quiet hours (minutes after local midnight; start > end spans midnight): no reminder is sent
    # then. Not part of the cached memory: only the scheduler reads them.
    quiet_start = models.PositiveSmallIntegerField(null=True, blank=True)
    quiet_end = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name or self.username or 'user'} ({self.telegram_id})"


class Preference(models.Model):
    user = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="preferences")
    key = models.CharField(max_length=32)
    value = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="preference_unique_per_user")]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class WeightEntry(models.Model):
    """One weight the user said or /set, with when: the history behind /weight. The profile's
    weight_kg is the latest of these."""

    user = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="weights", db_index=False)
    kg = models.DecimalField(max_digits=4, decimal_places=1,
                             validators=[MinValueValidator(20), MaxValueValidator(400)])
    measured_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "measured_at"], name="weightentry_user_measured")]
        verbose_name_plural = "weight entries"

    def __str__(self) -> str:
        return f"{self.kg} kg at {self.measured_at:%Y-%m-%d}"
