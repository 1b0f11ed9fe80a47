"""The WhatsApp Business account's templates over REST: the synced list, and a sync now."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from channels.whatsapp_templates import header_format

from ..models import WhatsAppTemplate
from ..services import whatsapp_templates as templates


class SyncedTemplateSerializer(serializers.ModelSerializer):
    header = serializers.SerializerMethodField(
        help_text=gettext_lazy("The header's format (TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION); empty without one."))

    class Meta:
        model = WhatsAppTemplate
        fields = ["id", "name", "language", "category", "status", "quality", "header", "variables", "components",
                  "remote_id", "synced_at"]
        read_only_fields = fields

    def get_header(self, obj: WhatsAppTemplate) -> str:
        return header_format(obj.components or [])


SyncAnswer = inline_serializer("WhatsAppTemplateSync", {
    "created": serializers.IntegerField(), "updated": serializers.IntegerField(),
    "deleted": serializers.IntegerField(), "approved": serializers.IntegerField(),
})
SyncRefusal = inline_serializer("WhatsAppTemplateSyncRefusal", {"detail": serializers.CharField()})


class WhatsAppTemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Templates as last synced from the WhatsApp Business account (read-only: they are
    made and approved in WhatsApp Manager)."""

    queryset = WhatsAppTemplate.objects.order_by("name", "language")
    serializer_class = SyncedTemplateSerializer
    filterset_fields = ["status", "category", "language", "name"]
    search_fields = ["name"]
    action_permissions = {"sync": ["campaigns.change_whatsapptemplate"]}

    @extend_schema(request=None, responses={200: SyncAnswer, 409: SyncRefusal, 502: SyncRefusal})
    @action(detail=False, methods=["post"])
    def sync(self, request: Request) -> Response:
        """Read the account's templates now. 409 when no account is configured, 502 when
        WhatsApp refuses or cannot be reached; the synced rows are kept either way."""
        try:
            result = templates.whatsapp_templates_sync(now=timezone.now())
        except templates.TemplateSyncError as exc:
            code = status.HTTP_409_CONFLICT if exc.kind == "config" else status.HTTP_502_BAD_GATEWAY
            return Response({"detail": exc.message}, status=code)
        return Response({"created": result.created, "updated": result.updated, "deleted": result.deleted,
                         "approved": result.approved})
