from django.contrib import admin

from campaigns.admin.common import ReadOnlyAdmin

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """What the sandbox 'sent' for platforms without credentials: nothing left the machine."""

    list_display = ["created_at", "platform", "address", "text", "delivery_id"]
    list_filter = ["platform"]
    search_fields = ["address", "text"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return super(ReadOnlyAdmin, self).has_delete_permission(request, obj)  # clearing the outbox is fine
