from django.contrib import admin
from django.utils.text import Truncator

from .models import Message, PollingOffset, ProcessedUpdate
from .replies import to_plain


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "role", "short_content", "helpful")
    list_filter = ("role", "helpful", ("created_at", admin.DateFieldListFilter))
    search_fields = ("content", "=user__telegram_id", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    readonly_fields = ("content_as_text",)

    # Bot replies are Telegram HTML (<b>, &amp;…): shown as the user reads them, not as markup.
    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return Truncator(to_plain(obj.content)).chars(80)

    @admin.display(description="as the user sees it")
    def content_as_text(self, obj: Message) -> str:
        return to_plain(obj.content)


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(admin.ModelAdmin):
    """Read-only: these rows are what makes webhook delivery exactly-once."""

    list_display = ("update_id", "user_id", "processed_at", "reply")
    search_fields = ("=update_id", "=user_id")
    ordering = ("-processed_at",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="reply")
    def reply(self, obj: ProcessedUpdate) -> str:
        return Truncator(to_plain(str((obj.response or {}).get("text", "")))).chars(80)


@admin.register(PollingOffset)
class PollingOffsetAdmin(admin.ModelAdmin):
    """Where `manage.py runbot` goes on from; read-only (the command keeps it)."""

    list_display = ("bot_id", "offset", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
