from django.contrib import admin, messages

from caching.api import invalidate_user
from healthagent.errors import ApplicationError

from .models import Preference, Profile


class PreferenceInline(admin.TabularInline):
    model = Preference
    extra = 0
    fields = ("key", "value", "updated_at")
    readonly_fields = ("updated_at",)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("telegram_id", "name", "username", "goal", "kcal_target", "updated_at")
    search_fields = ("=telegram_id", "username", "name")
    list_filter = ("goal", "activity", "sex")
    readonly_fields = ("created_at", "updated_at")
    inlines = (PreferenceInline,)
    actions = ("invalidate_cached_data",)

    @admin.action(description="Invalidate cached data for selected users")
    def invalidate_cached_data(self, request, queryset):
        user_ids = list(queryset.values_list("pk", flat=True))
        try:
            removed = sum(invalidate_user(user_id=user_id) for user_id in user_ids)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        self.message_user(
            request, f"Invalidated cached data for {len(user_ids)} user(s): {removed} key(s) removed.", messages.SUCCESS
        )


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "key", "value", "updated_at")
    search_fields = ("key", "value", "=user__telegram_id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
