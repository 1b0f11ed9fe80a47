"""Drafts, campaigns and the delivery ledger over REST."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .. import delivery, services
from ..models import (
    Campaign,
    Delivery,
    Draft,
)
from ..serializers import (
    PLATFORM_CHOICES,
    CampaignRejectSerializer,
    CampaignSerializer,
    DeliverySerializer,
    DraftSerializer,
)


class DraftViewSet(viewsets.ModelViewSet):
    queryset = Draft.objects.order_by("-id")
    serializer_class = DraftSerializer
    search_fields = ["title", "body"]

    def perform_update(self, serializer: DraftSerializer) -> None:
        # The edit and the withdrawal of the approvals it invalidates commit together.
        with transaction.atomic():
            draft = serializer.save()
            services.campaigns_withdraw_approval(draft=draft, actor=self.request.user)


class CampaignFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=PLATFORM_CHOICES, method="filter_platform")

    class Meta:
        model = Campaign
        fields = ["status", "draft", "segment"]

    def filter_platform(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # A JSON list of names: a quoted-name match works on SQLite and PostgreSQL alike.
        return queryset.filter(platforms__icontains=f'"{value}"')


class CampaignViewSet(viewsets.ModelViewSet):
    queryset = Campaign.objects.select_related("draft", "segment", "created_by", "submitted_by", "approved_by").order_by(
        "-id")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    search_fields = ["name"]
    ordering_fields = ["send_at", "id"]
    action_permissions = {
        "schedule": ["campaigns.schedule_campaign"],
        "approve": ["campaigns.approve_campaign"],
        "reject": ["campaigns.approve_campaign"],
        "cancel": ["campaigns.cancel_campaign"],
        "pause": ["campaigns.pause_campaign"],
        "resume": ["campaigns.pause_campaign"],
        "forecast": ["campaigns.view_campaign"],
        "duplicate": ["campaigns.add_campaign"],
    }

    def perform_create(self, serializer: CampaignSerializer) -> None:
        serializer.save(created_by=self.request.user)

    def perform_destroy(self, instance: Campaign) -> None:
        if instance.status != Campaign.Status.DRAFT:
            raise ValidationError({"status": [_("a %(status)s campaign is kept; cancel it instead") % {"status": instance.status}]})
        instance.delete()

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str) -> Response:
        """draft -> scheduled (with approval required: awaiting_approval); refused (400, by
        field) when a limit or date does not allow it."""
        campaign = services.campaign_schedule(campaign=self.get_object(), actor=request.user, now=timezone.now())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """awaiting_approval -> scheduled, by another user than the one who submitted it."""
        campaign = services.campaign_approve(campaign=self.get_object(), actor=request.user, now=timezone.now())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=CampaignRejectSerializer, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """awaiting_approval -> draft, with the reason the marketer reads."""
        serializer = CampaignRejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_reject(campaign=self.get_object(), actor=request.user,
                                            reason=serializer.validated_data["reason"])
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop for good: nothing still waiting is sent."""
        campaign = services.campaign_cancel(campaign=self.get_object(), actor=request.user)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Stop sending within seconds; resume continues without resending."""
        campaign = services.campaign_pause(campaign=self.get_object(), actor=request.user)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        campaign = services.campaign_resume(campaign=self.get_object(), actor=request.user)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses={201: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str) -> Response:
        """A new draft campaign with the same draft, segment, platforms and timing (a past
        send_at moves forward by whole days)."""
        campaign = services.campaign_duplicate(campaign=self.get_object(), actor=request.user)
        return Response(self.get_serializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: {"type": "object"}})
    @action(detail=True, methods=["get"])
    def forecast(self, request: Request, pk: str) -> Response:
        """Receivers per platform, who is held back and why, lists, and the time it takes."""
        return Response(delivery.campaign_forecast(campaign=self.get_object(), now=timezone.now()))


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Delivery.objects.select_related("subscription").order_by("campaign_id", "list_number", "id")
    serializer_class = DeliverySerializer
    filterset_fields = ["campaign", "status", "platform", "subscriber", "list_number"]

    @extend_schema(parameters=[OpenApiParameter("campaign", int, description=gettext_lazy("Campaign id"))])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)


