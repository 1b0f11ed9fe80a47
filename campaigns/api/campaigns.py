"""Drafts, campaigns and the delivery ledger over REST."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from .. import delivery, selectors, services
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
    DraftMediaUploadSerializer,
    DraftSerializer,
)
from ..services import media as media_service
from . import follow_ups as follow_up_api
from . import manual_lists as manual_lists_api
from . import variants as variants_api
from .pagination import LedgerCursorPagination
from .personal import (
    CouponCountsSerializer,
    CouponsAddedSerializer,
    CouponUploadSerializer,
    answer_coupons,
    answer_preview,
)
from .tester_sends import (
    SEND_TEST,
    TestSendRequestSerializer,
    TestSendSerializer,
    answer_test_send,
)


class DraftViewSet(viewsets.ModelViewSet):
    queryset = Draft.objects.order_by("-id")
    serializer_class = DraftSerializer
    search_fields = ["title", "body"]
    action_permissions = {"test": [SEND_TEST, "campaigns.view_draft"], "media": ["campaigns.change_draft"],
                          "preview": ["campaigns.view_draft"]}

    def perform_update(self, serializer: DraftSerializer) -> None:
        # The edit and the withdrawal of the approvals it invalidates commit together.
        with transaction.atomic():
            draft = serializer.save()
            services.campaigns_withdraw_approval(draft=draft, actor=self.request.user)

    @extend_schema(request=TestSendRequestSerializer, responses={201: TestSendSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Send this draft now to the testers' opted-in subscriptions (outside caps, quiet hours
        and every campaign's ledger); 201 with one outcome per message."""
        return answer_test_send(request, draft=self.get_object())

    @extend_schema(request={"multipart/form-data": DraftMediaUploadSerializer}, responses={200: DraftSerializer})
    @action(detail=True, methods=["post", "delete"])
    def media(self, request: Request, pk: str) -> Response:
        """POST (multipart `file`): attach one image, video or document, replacing any earlier
        media or media_url (400 naming `file` when it is empty, too big or not JPEG, PNG, GIF,
        MP4 or PDF); DELETE: remove it."""
        draft = self.get_object()
        if request.method == "DELETE":
            draft = media_service.draft_media_remove(draft=draft)
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationError({"file": [_("send the file as multipart form field `file`")]})
            draft = media_service.draft_media_attach(draft=draft, upload=upload)
        return Response(self.get_serializer(draft).data)

    @extend_schema(parameters=[OpenApiParameter("subscriber", int, description=gettext_lazy(
        "Render for this subscriber (needs view_subscriber); without it, a made-up sample person."))],
        responses={200: {"type": "object"}})
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> Response:
        """Per platform: the text as that person receives it, placeholders filled in, with the
        push line, lengths and limits of the draft's `previews`."""
        return answer_preview(request, draft=self.get_object())


class CampaignFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=PLATFORM_CHOICES, method="filter_platform")

    class Meta:
        model = Campaign
        fields = ["status", "draft", "segment"]

    def filter_platform(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # A JSON list of names: a quoted-name match works on SQLite and PostgreSQL alike.
        return queryset.filter(platforms__icontains=f'"{value}"')


class CampaignViewSet(manual_lists_api.ManualListsMixin, viewsets.ModelViewSet):
    queryset = Campaign.objects.select_related("draft", "segment", "created_by", "submitted_by", "approved_by",
                                               "telegram_account", "whatsapp_account", "viber_account").order_by("-id")
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
        "runs": ["campaigns.view_campaign"],
        "test": [SEND_TEST, "campaigns.view_campaign"],
        "coupons": ["campaigns.view_couponcode"],
        "coupons_add": ["campaigns.add_couponcode"],
        **manual_lists_api.PERMISSIONS,  # lists for the phone apps: downloads need view_address
        "resend": follow_up_api.RESEND,
        "follow_up": follow_up_api.FOLLOW_UP,
        **variants_api.PERMISSIONS,  # A/B test and VIP offers: results, the winner
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

    @extend_schema(responses={200: CampaignSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, pk: str) -> Response:
        """A recurring campaign's runs, one per occurrence so far (the latest first), each a
        campaign with its own status and stats; empty for a campaign that does not repeat. The
        list's filters, search and ordering apply to the runs."""
        series = get_object_or_404(self.get_queryset(), pk=pk)  # the filters are for the runs, not the series
        self.check_object_permissions(request, series)
        page = self.paginate_queryset(self.filter_queryset(selectors.series_runs(series)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: {"type": "object"}})
    @action(detail=True, methods=["get"])
    def forecast(self, request: Request, pk: str) -> Response:
        """Receivers per platform, who is held back and why, lists, and the time it takes."""
        return Response(delivery.campaign_forecast(campaign=self.get_object(), now=timezone.now()))

    @extend_schema(request=TestSendRequestSerializer, responses={201: TestSendSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Send this campaign's message (its frozen content once scheduled, else its draft's)
        now to the testers on its platforms; 201 with one outcome per message."""
        return answer_test_send(request, campaign=self.get_object())

    @extend_schema(responses={200: CouponCountsSerializer}, parameters=[OpenApiParameter(
        "variant", int, description=gettext_lazy("A variant's own pool (a VIP group's); absent: the common pool."))])
    @action(detail=True, methods=["get"])
    def coupons(self, request: Request, pk: str) -> Response:
        """The coupon pool: codes in all, given to a delivery, free."""
        return answer_coupons(request, campaign=self.get_object())

    @extend_schema(request={"multipart/form-data": CouponUploadSerializer, "application/json": CouponUploadSerializer},
                   responses={201: CouponsAddedSerializer})
    @coupons.mapping.post
    def coupons_add(self, request: Request, pk: str) -> Response:
        """Add codes to the pool (CSV `file` or JSON `codes`), all or none: duplicates within
        the upload or with the pool are refused (400 naming them); only before planning."""
        return answer_coupons(request, campaign=self.get_object())

    @extend_schema(responses={200: {"type": "object"}})
    @action(detail=True, methods=["get"])
    def variants(self, request: Request, pk: str) -> Response:
        """Per variant (an A/B test: its test share): sent, delivered, read, clicked, the click and
        read rates, and the difference from the winner (else the best so far) with a 95 % Wald
        interval; the winner, when and why it was picked; `rest`: the remainder's counts."""
        return variants_api.answer_results(self.get_object())

    @extend_schema(request=variants_api.WinnerRequestSerializer, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def winner(self, request: Request, pk: str) -> Response:
        """Pick an A/B test's winner now: the rest of the audience is sent that variant at once
        (400 naming `variant` for one not of this campaign, or a winner picked already)."""
        campaign = variants_api.answer_winner(request, campaign=self.get_object())
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=follow_up_api.ResendRequestSerializer, responses={200: follow_up_api.ResendResultSerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str) -> Response:
        """Put `uncertain` rows (only with `confirm: true`: some may get it twice) or rows that
        failed for a temporary reason back in line now, in this campaign (400 by field)."""
        return follow_up_api.answer_resend(request, campaign=self.get_object())

    @extend_schema(request=follow_up_api.FollowUpRequestSerializer, responses={201: follow_up_api.FollowUpResultSerializer})
    @action(detail=True, methods=["post"], url_path="follow-up")
    def follow_up(self, request: Request, pk: str) -> Response:
        """A new draft campaign over exactly the people who did not read / did not click within
        `hours` (a static segment of them); 400 when the hours have not passed or nobody qualifies."""
        return follow_up_api.answer_follow_up(request, campaign=self.get_object())


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    # The account's slug from the list's account (one join, no query per row).
    queryset = Delivery.objects.select_related("subscription", "coupon", "send_list__account").order_by("id")
    serializer_class = DeliverySerializer
    filterset_fields = ["campaign", "status", "platform", "subscriber", "list_number"]
    # Millions of rows: cursor pages in id order (`page_size` up to 1,000), no total count.
    pagination_class = LedgerCursorPagination
    filter_backends = [DjangoFilterBackend]

    @extend_schema(parameters=[OpenApiParameter("campaign", int, description=gettext_lazy("Campaign id"))])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)


