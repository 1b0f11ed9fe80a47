"""REST API views: thin, each one a serializer and a service call."""

from __future__ import annotations

import logging

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import Exists, OuterRef, Prefetch, ProtectedError, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import delivery, services
from .services import imports
from .models import Campaign, ConsentEvent, Delivery, Draft, Segment, Subscriber, Subscription
from .serializers import (
    PLATFORM_CHOICES,
    CampaignSerializer,
    DeliverySerializer,
    DraftSerializer,
    ImportReportSerializer,
    ImportSerializer,
    OptOutSerializer,
    SegmentSerializer,
    SubscriberSerializer,
    SubscriptionSerializer,
)

log = logging.getLogger(__name__)


def _field_errors(by_field: dict[str, list[str]]) -> dict[str, list[str]]:
    return {(field or "non_field_errors"): messages for field, messages in by_field.items()}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus our refusals as 400 and data conflicts as 409 (never a 500)."""
    if isinstance(exc, services.ServiceError):
        return Response(_field_errors(exc.by_field), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages).detail,
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        return Response({"detail": f"still in use by {len(exc.protected_objects)} record(s); not deleted"},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        log.warning("integrity error answered 409: %s", exc)
        return Response({"detail": "conflicts with data saved meanwhile; reload and try again"},
                        status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


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


class DraftViewSet(viewsets.ModelViewSet):
    queryset = Draft.objects.order_by("-id")
    serializer_class = DraftSerializer
    search_fields = ["title", "body"]


class CampaignFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=PLATFORM_CHOICES, method="filter_platform")

    class Meta:
        model = Campaign
        fields = ["status", "draft", "segment"]

    def filter_platform(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # A JSON list of names: a quoted-name match works on SQLite and PostgreSQL alike.
        return queryset.filter(platforms__icontains=f'"{value}"')


class CampaignViewSet(viewsets.ModelViewSet):
    queryset = Campaign.objects.select_related("draft", "segment").order_by("-id")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    search_fields = ["name"]
    ordering_fields = ["send_at", "id"]

    def perform_destroy(self, instance: Campaign) -> None:
        if instance.status != Campaign.Status.DRAFT:
            raise ValidationError({"status": [f"a {instance.status} campaign is kept; cancel it instead"]})
        instance.delete()

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str) -> Response:
        """draft -> scheduled; refused (400, by field) when a limit or date does not allow it."""
        campaign = services.campaign_schedule(campaign=self.get_object(), now=timezone.now())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop for good: nothing still waiting is sent."""
        campaign = services.campaign_cancel(campaign=self.get_object())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Stop sending within seconds; resume continues without resending."""
        campaign = services.campaign_pause(campaign=self.get_object())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        campaign = services.campaign_resume(campaign=self.get_object())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(responses={200: {"type": "object"}})
    @action(detail=True, methods=["get"])
    def forecast(self, request: Request, pk: str) -> Response:
        """Receivers per platform, who is held back and why, lists, and the time it takes."""
        return Response(delivery.campaign_forecast(campaign=self.get_object(), now=timezone.now()))


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Delivery.objects.select_related("subscription").order_by("campaign_id", "list_number", "id")
    serializer_class = DeliverySerializer
    filterset_fields = ["campaign", "status", "platform", "subscriber", "list_number"]

    @extend_schema(parameters=[OpenApiParameter("campaign", int, description="Campaign id")])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)


