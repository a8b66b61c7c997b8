from django.contrib import admin
from django.utils.text import Truncator

from .models import Message, ProcessedUpdate


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "role", "short_content", "helpful")
    list_filter = ("role", "helpful", ("created_at", admin.DateFieldListFilter))
    search_fields = ("content", "=user__telegram_id", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return Truncator(obj.content).chars(80)


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(admin.ModelAdmin):
    """Read-only: these rows are what makes webhook delivery exactly-once."""

    list_display = ("update_id", "user_id", "processed_at")
    search_fields = ("=update_id", "=user_id")
    ordering = ("-processed_at",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
