"""The WhatsApp Business account's templates: read-only, as last synced, with a "Sync templates now" button."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import ModelAdmin

from ..models import WhatsAppTemplate
from ..services import whatsapp_templates as templates
from ..services.whatsapp_templates import variable_label

SYNC_PERMISSION = "campaigns.change_whatsapptemplate"


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(ModelAdmin):
    change_list_template = "admin/campaigns/whatsapptemplate/change_list.html"
    list_display = ["name", "language", "category", "status", "quality", "variables_list", "synced_at"]
    list_filter = ["status", "category", "language"]
    search_fields = ["name"]
    readonly_fields = ["name", "language", "category", "status", "quality", "variables_list", "components",
                       "remote_id", "synced_at"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # templates are made and approved in WhatsApp Manager, then synced

    def has_change_permission(self, request: HttpRequest, obj: WhatsAppTemplate | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WhatsAppTemplate | None = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("Variables"))
    def variables_list(self, obj: WhatsAppTemplate) -> str:
        return ", ".join(variable_label(v) for v in obj.variables or []) or "-"

    def get_urls(self):
        return [
            path("sync/", self.admin_site.admin_view(self.sync_view), name="campaigns_whatsapptemplate_sync"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "may_sync": request.user.has_perm(SYNC_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """Sync now (POST); says what changed, or why nothing did."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(SYNC_PERMISSION):
            raise PermissionDenied
        try:
            result = templates.whatsapp_templates_sync()
        except templates.TemplateSyncError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, gettext(
                "Templates synced: %(created)s new, %(updated)s updated, %(deleted)s gone from the account; "
                "%(approved)s approved.") % {"created": result.created, "updated": result.updated,
                                             "deleted": result.deleted, "approved": result.approved},
                messages.SUCCESS)
        return redirect(reverse("admin:campaigns_whatsapptemplate_changelist"))
