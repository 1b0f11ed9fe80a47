"""The brand's channels over REST (/api/channels/): add, change, check, remove. The token is
write-only; adding or changing a channel checks it on its platform."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import BrandChannel
from ..services import ServiceError
from ..services import brand_channels as service

CADENCE = ("max_posts_per_day", "min_gap_minutes", "night_start", "night_end", "night_policy")


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "22:00"})
class ClockTimeField(serializers.TimeField):
    """A wall-clock time, answered as "22:00" (JSON Schema's "time" format wants an offset too)."""


class CadenceSerializer(serializers.Serializer):
    max_posts_per_day = serializers.IntegerField(min_value=1, max_value=100, required=False,
                                                 help_text=gettext_lazy("At most this many posts a day."))
    min_gap_minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60, required=False,
                                               help_text=gettext_lazy("At least this many minutes between posts."))
    night_start = ClockTimeField(required=False, help_text=gettext_lazy("Night starts (the channel's zone)."))
    night_end = ClockTimeField(required=False, help_text=gettext_lazy("Night ends (the channel's zone)."))
    night_policy = serializers.ChoiceField(choices=BrandChannel.NightPolicy.choices, required=False,
                                           help_text=gettext_lazy("A notifying post at night: posted silently, "
                                                                  "or moved to the end of the night."))


class BrandChannelSerializer(serializers.ModelSerializer):
    token = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=255,
                                  style={"input_type": "password"},
                                  help_text=gettext_lazy("Viber: the channel's own token. Write-only; empty or "
                                                         "left out on change keeps the stored one."))
    cadence = CadenceSerializer(required=False)

    class Meta:
        model = BrandChannel
        fields = ["id", "platform", "chat", "token", "admin_id", "timezone", "title", "can_post", "problem",
                  "subscribers", "checked_at", "cadence"]
        read_only_fields = ["title", "can_post", "problem", "subscribers", "checked_at"]
        # Uniqueness and the rest are the service's to say (field by field).
        validators: list = []

    def to_representation(self, instance: BrandChannel) -> dict:
        data = super().to_representation(instance)
        data["cadence"] = {"max_posts_per_day": instance.max_posts_per_day,
                           "min_gap_minutes": instance.min_gap_minutes,
                           "night_start": instance.night_start.strftime("%H:%M"),
                           "night_end": instance.night_end.strftime("%H:%M"),
                           "night_policy": instance.night_policy}
        return data


def _values(data: dict) -> dict:
    values = dict(data)
    values.update(values.pop("cadence", None) or {})
    return values


def _refused(exc: ServiceError) -> ValidationError:
    """The service's refusals by field; cadence fields under "cadence" as they were sent."""
    errors: dict = {}
    for field, messages in exc.by_field.items():
        if field in CADENCE:
            errors.setdefault("cadence", {})[field] = messages
        else:
            errors[field or "non_field_errors"] = messages
    return ValidationError(errors)


class BrandChannelViewSet(viewsets.ModelViewSet):
    """The brand's own channels (a Telegram channel, a Viber Channel) and whether Tact can post there."""

    queryset = BrandChannel.objects.all()
    serializer_class = BrandChannelSerializer
    filterset_fields = ["platform", "can_post"]
    search_fields = ["title", "chat"]
    action_permissions = {"check": ["campaigns.change_brandchannel"]}

    def perform_create(self, serializer: BrandChannelSerializer) -> None:
        try:
            serializer.instance = service.channel_add(values=_values(serializer.validated_data))
        except ServiceError as exc:
            raise _refused(exc) from exc

    def perform_update(self, serializer: BrandChannelSerializer) -> None:
        try:
            serializer.instance = service.channel_update(channel=serializer.instance,
                                                         values=_values(serializer.validated_data))
        except ServiceError as exc:
            raise _refused(exc) from exc

    @extend_schema(request=None, responses={200: BrandChannelSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Ask the platform now whether Tact can post in this channel; the answer is stored."""
        channel = service.channel_check(channel=self.get_object())
        return Response(self.get_serializer(channel).data)
