from django.contrib import admin

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """What the sandbox 'sent' for platforms without credentials: nothing left the machine."""

    list_display = ["created_at", "platform", "address", "text", "delivery_id"]
    list_filter = ["platform"]
    search_fields = ["address", "text"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in OutboxMessage._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
