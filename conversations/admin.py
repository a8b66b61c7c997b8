from django.contrib import admin, messages
from django.utils import timezone
from django.utils.text import Truncator

from .models import Message, OutgoingMessage, PollingOffset, ProcessedUpdate, Reminder
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


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(admin.ModelAdmin):
    """What the bot sends on its own: queued, sent, failed (with why), counted per status in the
    filter (facets). Written by the delivery worker only: read-only here, but a failed or dropped
    message can be queued again — after reading its error: one failed as "uncertain" may have arrived."""

    list_display = ("created_at", "origin", "chat_id", "kind", "status", "attempts", "due_at", "sent_at", "short_error")
    list_filter = ("status", "origin", "kind")
    show_facets = admin.ShowFacets.ALWAYS
    search_fields = ("=chat_id", "=user__telegram_id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    exclude = ("file",)
    readonly_fields = [field.name for field in OutgoingMessage._meta.fields if field.name != "file"] + ["text_as_sent"]
    actions = ["queue_again"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, obj: OutgoingMessage) -> str:
        return Truncator(obj.error).chars(60)

    @admin.display(description="as the user sees it")
    def text_as_sent(self, obj: OutgoingMessage) -> str:
        return to_plain(obj.text)

    @admin.action(description="Queue the selected failed or dropped messages again")
    def queue_again(self, request, queryset) -> None:
        done = queryset.filter(status__in=[OutgoingMessage.Status.FAILED, OutgoingMessage.Status.DROPPED]).update(
            status=OutgoingMessage.Status.QUEUED, due_at=timezone.now(), expires_at=None, attempts=0, lease_until=None)
        self.message_user(request, f"{done} message(s) queued again.", messages.SUCCESS)


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "repeat", "text", "next_fire_at", "active", "created_at")
    list_filter = ("active", "kind", "repeat")
    show_facets = admin.ShowFacets.ALWAYS
    search_fields = ("=user__telegram_id",)
    raw_id_fields = ("user",)
    ordering = ("next_fire_at", "id")
