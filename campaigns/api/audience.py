"""Subscribers, import, opt-out and segments over REST."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..models import (
    ConsentEvent,
    Segment,
    Subscriber,
    Subscription,
)
from ..serializers import (
    PLATFORM_CHOICES,
    ImportReportSerializer,
    ImportSerializer,
    OptOutSerializer,
    SegmentSerializer,
    SubscriberSerializer,
    SubscriptionSerializer,
)
from ..services import imports
from .permissions import ActionPermissions


class SubscriberFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=PLATFORM_CHOICES, method="filter_subscription")
    status = django_filters.ChoiceFilter(choices=Subscription.Status.choices, method="filter_subscription")
    tag = django_filters.CharFilter(field_name="tags__name")
    language = django_filters.CharFilter()

    class Meta:
        model = Subscriber
        fields = ["platform", "status", "tag", "language", "external_id"]

    def filter_subscription(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # platform and status describe the same subscription, so they go into one EXISTS.
        return queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        wanted = {k: self.form.cleaned_data.get(k) for k in ("platform", "status")}
        wanted = {k: v for k, v in wanted.items() if v}
        if wanted:
            queryset = queryset.filter(
                Exists(Subscription.objects.filter(subscriber_id=OuterRef("pk"), **wanted))
            )
        return queryset.distinct() if self.form.cleaned_data.get("tag") else queryset


class SubscriberViewSet(viewsets.ModelViewSet):
    serializer_class = SubscriberSerializer
    filterset_class = SubscriberFilter
    search_fields = ["name", "external_id", "subscriptions__address"]
    ordering_fields = ["id", "name", "created_at"]
    action_permissions = {"import_csv": ["campaigns.add_subscriber", "campaigns.import_subscribers"]}

    def get_queryset(self) -> QuerySet[Subscriber]:
        opt_ins = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPT_IN).order_by("id")
        return Subscriber.objects.prefetch_related(
            "tags",
            Prefetch(
                "subscriptions",
                queryset=Subscription.objects.prefetch_related(
                    Prefetch("consent_events", queryset=opt_ins, to_attr="prefetched_opt_ins")
                ),
            ),
        ).order_by("id")

    @extend_schema(request={"multipart/form-data": ImportSerializer}, responses={200: ImportReportSerializer})
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser, FormParser], url_path="import")
    def import_csv(self, request: Request) -> Response:
        """Import subscriptions from a CSV; bad rows come back with their line number."""
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            report = imports.subscribers_import_csv(data=upload.read())
        except imports.ImportFileError as exc:
            raise ValidationError({"file": exc.messages}) from exc
        return Response(report.as_dict())


class OptOutView(APIView):
    permission_classes = [ActionPermissions]
    required_permissions = {"POST": ["campaigns.opt_out_subscription"]}

    @extend_schema(request=OptOutSerializer, responses={200: SubscriptionSerializer})
    def post(self, request: Request) -> Response:
        """Opt a subscription out at once; queued messages to it are skipped."""
        serializer = OptOutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription, changed = services.opt_out_address(
            platform=data["platform"], address=data["address"],
            consent=services.Consent(source=data["source"], text=data["text"], evidence={"api": True}),
        )
        if subscription is None:
            return Response(
                {"address": [f"no {data['platform']} subscription with address {data['address']}"]},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response({**SubscriptionSerializer(subscription).data, "changed": changed})


class SegmentViewSet(viewsets.ModelViewSet):
    queryset = Segment.objects.prefetch_related("members").order_by("id")
    serializer_class = SegmentSerializer
    filterset_fields = ["kind"]
    search_fields = ["name"]

