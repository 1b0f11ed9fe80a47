from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from campaigns.admin.common import ReadOnlyAdmin
from campaigns.admin.privacy import AddressMasking, masked_on
from campaigns.rules import mask_address

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AddressMasking, ReadOnlyAdmin):
    """What the sandbox 'sent' for platforms without credentials: nothing left the machine."""

    list_display = ["created_at", "platform", "shown_address", "text", "delivery_id"]
    list_filter = ["platform"]
    search_fields = ["address", "text"]

    @admin.display(description=_("address"), ordering="address")
    def shown_address(self, obj: OutboxMessage) -> str:
        return mask_address(obj.platform, obj.address) if masked_on(obj) else obj.address

    def hide_addresses(self, obj: OutboxMessage) -> None:
        obj.address = mask_address(obj.platform, obj.address)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super(ReadOnlyAdmin, self).has_delete_permission(request, obj)  # clearing the outbox is fine
