"""Subscribers, import, opt-out and segments over REST."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import addresses, services
from ..models import (
    ConsentEvent,
    Segment,
    Subscriber,
    Subscription,
)
from ..serializers import (
    PLATFORM_CHOICES,
    ErasureReportSerializer,
    ImportReportSerializer,
    ImportSerializer,
    OptOutSerializer,
    SegmentSerializer,
    SubscriberSerializer,
    SubscriptionSerializer,
)
from ..services import import_jobs, imports, privacy
from .permissions import ActionPermissions
from .schema import field_errors
from .search import SubscriberSearchFilter


class SubscriberFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=PLATFORM_CHOICES, method="filter_subscription")
    status = django_filters.ChoiceFilter(choices=Subscription.Status.choices, method="filter_subscription")
    tag = django_filters.CharFilter(field_name="tags__name")
    language = django_filters.CharFilter()

    class Meta:
        model = Subscriber
        fields = ["platform", "status", "tag", "language", "external_id", "tester"]

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
    filter_backends = [DjangoFilterBackend, SubscriberSearchFilter, OrderingFilter]
    # Shown by the browsable API; the search itself is selectors.subscribers_search.
    search_fields = ["name", "external_id", "subscriptions__address"]
    ordering_fields = ["id", "name", "created_at"]
    action_permissions = {
        "import_csv": ["campaigns.add_subscriber", "campaigns.import_subscribers"],
        "erase": ["campaigns.erase_subscriber"],
        "export": ["campaigns.export_subscriber"],
    }

    def get_queryset(self) -> QuerySet[Subscriber]:
        opt_ins = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPT_IN).order_by("id")
        # Erased people are gone from the API: only their pseudonymous consent trail remains.
        return Subscriber.objects.filter(erased_at__isnull=True).prefetch_related(
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
        """Import subscriptions from a CSV; bad rows come back with their line number. At most
        TACT_IMPORT_SYNC_MAX_ROWS rows; a larger file goes through POST /api/imports/."""
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        data = import_jobs.import_upload_read(upload=upload)
        limit = min(settings.TACT_IMPORT_SYNC_MAX_ROWS, settings.TACT_IMPORT_MAX_ROWS)
        import_jobs.import_rows_check(data=data, limit=limit, advice=_(
            " for this endpoint; import it in the background with POST /api/imports/ (up to %(max)s rows)"
        ) % {"max": f"{settings.TACT_IMPORT_MAX_ROWS:,}"})
        try:
            report = imports.subscribers_import_csv(data=data)
        except imports.ImportFileError as exc:
            raise ValidationError({"file": exc.messages}) from exc
        return Response(report.as_dict())

    @extend_schema(request=None, responses={200: ErasureReportSerializer})
    @action(detail=True, methods=["post"])
    def erase(self, request: Request, pk: str) -> Response:
        """Erase the person (right to erasure): nothing identifying remains; a pseudonymous
        consent trail does. The person is gone from the API afterwards."""
        report = privacy.subscriber_erase(subscriber=self.get_object(), actor=request.user)
        return Response(report.as_dict())

    @extend_schema(responses={200: {"type": "object"}})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str) -> Response:
        """Everything held about the person, as JSON (right of access and portability)."""
        subscriber = self.get_object()
        data = privacy.subscriber_export(subscriber=subscriber, actor=request.user,
                                         masked=not addresses.sees_addresses(request.user))
        return Response(data, headers={
            "Content-Disposition": f'attachment; filename="subscriber-{subscriber.pk}.json"'})


class OptOutView(APIView):
    permission_classes = [ActionPermissions]
    required_permissions = {"POST": ["campaigns.opt_out_subscription"]}

    @extend_schema(request=OptOutSerializer, responses={
        200: SubscriptionSerializer, 404: field_errors(gettext_lazy("No subscription with this address on this platform."))})
    def post(self, request: Request) -> Response:
        """Opt a subscription out at once; queued messages to it are skipped. Without `account`,
        the address is opted out on every sender account of the platform (the answer shows the
        default account's subscription, else the oldest); with it, on that account only."""
        serializer = OptOutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription, changed = services.opt_out_address(
            platform=data["platform"], address=data["address"],
            consent=services.Consent(source=data["source"], text=data["text"], evidence={"api": True}),
            actor=request.user, account=data.get("account", services.EVERY_ACCOUNT),
        )
        if subscription is None:
            return Response(
                {"address": [_("no %(platform)s subscription with address %(address)s")
                             % {"platform": data["platform"], "address": data["address"]}]},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response({**SubscriptionSerializer(subscription, context={"request": request}).data,
                         "changed": changed})


class SegmentViewSet(viewsets.ModelViewSet):
    queryset = Segment.objects.prefetch_related("members").order_by("id")
    serializer_class = SegmentSerializer
    filterset_fields = ["kind"]
    search_fields = ["name"]

