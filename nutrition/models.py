from django.db import models
from django.utils import timezone


class FoodEntry(models.Model):
    """One food diary line. Nutrients are for the logged amount, not per 100 g."""

    user = models.ForeignKey(
        "memory.Profile", on_delete=models.CASCADE, related_name="food_entries", db_index=False
    )
    fdc_id = models.BigIntegerField(null=True, blank=True)
    description = models.CharField(max_length=255)
    # The amount as the user put it when it was not in grams ("2 eggs", "1 tbsp olive oil"): the
    # diary shows it back in their words.
    said = models.CharField(max_length=120, blank=True)
    grams = models.DecimalField(max_digits=7, decimal_places=1)
    kcal = models.DecimalField(max_digits=7, decimal_places=1)
    protein = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    fat = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    carbs = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    eaten_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "eaten_at"], name="foodentry_user_eaten")]
        verbose_name_plural = "food entries"

    def __str__(self) -> str:
        return f"{self.grams} g {self.description}"
