from django.contrib import admin

from .models import FoodEntry


@admin.register(FoodEntry)
class FoodEntryAdmin(admin.ModelAdmin):
    list_display = ("eaten_at", "user", "description", "said", "grams", "kcal", "protein", "fat", "carbs")
    date_hierarchy = "eaten_at"
    search_fields = ("description", "=user__telegram_id", "=fdc_id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    ordering = ("-eaten_at",)
