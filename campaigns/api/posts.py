"""Channel posts over REST: create and edit until they go out, schedule, cancel, results."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import BrandChannel, Draft, Post
from ..services import posts as post_services
from ..services.channel_results import publication_results


class PostSerializer(serializers.ModelSerializer):
    draft = serializers.PrimaryKeyRelatedField(queryset=Draft.objects.all())
    channels = serializers.PrimaryKeyRelatedField(queryset=BrandChannel.objects.all(), many=True,
                                                  help_text=gettext_lazy("The ids of the brand channels."))
    results = serializers.SerializerMethodField(
        help_text=gettext_lazy("Per channel id: message_id, published_at, status, reason, clicks, reactions, "
                               "and the channel's subscribers just before and an hour after it was published "
                               "(subscribers_before, subscribers_after; null until sampled)."))

    class Meta:
        model = Post
        fields = ["id", "name", "draft", "channels", "publish_at", "silent", "pin", "protect_content", "status",
                  "results", "scheduled_at", "cancelled_at", "created_at", "updated_at"]
        read_only_fields = ["status", "scheduled_at", "cancelled_at", "created_at", "updated_at"]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
    def get_results(self, obj: Post) -> dict[str, dict]:
        return {
            str(r.publication.channel_id): {
                "message_id": r.publication.message_id or None, "published_at": r.publication.published_at,
                "status": r.publication.status, "reason": r.publication.reason, "clicks": r.clicks,
                "reactions": r.reactions, "subscribers_before": r.before, "subscribers_after": r.after}
            for r in publication_results(list(obj.publications.order_by("channel_id")))
        }

    def validate_channels(self, value: list[BrandChannel]) -> list[BrandChannel]:
        if not value:
            raise serializers.ValidationError(_("choose at least one channel"))
        return value


class PostScheduleSerializer(serializers.Serializer):
    move = serializers.BooleanField(required=False, default=False, help_text=gettext_lazy(
        "Take the next allowed slot when the channel's cadence policy refuses the time."))


class PostViewSet(viewsets.ModelViewSet):
    queryset = Post.objects.select_related("draft").prefetch_related("channels").order_by("-id")
    serializer_class = PostSerializer
    filterset_fields = ["status", "channels"]
    search_fields = ["name"]
    ordering_fields = ["publish_at", "id"]
    action_permissions = {"schedule": ["campaigns.schedule_post"], "cancel": ["campaigns.schedule_post"]}

    def perform_create(self, serializer: PostSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = post_services.post_create(
            draft=data["draft"], channels=data["channels"], publish_at=data["publish_at"], name=data.get("name", ""),
            silent=data.get("silent", False), pin=data.get("pin", False),
            protect_content=data.get("protect_content", False), actor=self.request.user)

    def perform_update(self, serializer: PostSerializer) -> None:
        move = self._move(self.request)
        serializer.instance = post_services.post_update(post=serializer.instance, actor=self.request.user, move=move,
                                                        **serializer.validated_data)

    def perform_destroy(self, instance: Post) -> None:
        if instance.status != Post.Status.DRAFT:
            raise ValidationError({"status": [_("a %(status)s post is kept; cancel it instead")
                                              % {"status": instance.get_status_display()}]})
        instance.delete()

    @staticmethod
    def _move(request: Request) -> bool:
        data = request.data if isinstance(request.data, dict) else {}
        serializer = PostScheduleSerializer(data={"move": data["move"]} if "move" in data else {})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["move"]

    @extend_schema(request=PostScheduleSerializer, responses={200: PostSerializer})
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str) -> Response:
        """draft -> scheduled, one publication per channel; refused (400, by field) for
        placeholders, content over a platform's limits, a channel Tact cannot post in, a past
        time, or the channel's cadence policy (with the next allowed slot: `"move": true` takes it)."""
        if request.data is not None and not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": [_("send a JSON object, e.g. {\"move\": true}")]})
        serializer = PostScheduleSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        post = post_services.post_schedule(post=self.get_object(), actor=request.user,
                                           move=serializer.validated_data["move"])
        return Response(self.get_serializer(post).data)

    @extend_schema(request=None, responses={200: PostSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel every publication still planned; `left` names those already sending or published."""
        post, left = post_services.post_cancel(post=self.get_object(), actor=request.user)
        data = dict(self.get_serializer(post).data)
        data["left"] = {str(p.channel_id): p.status for p in left}
        return Response(data)
