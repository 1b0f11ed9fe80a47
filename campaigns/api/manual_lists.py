"""A manual campaign's lists for the phone apps over REST: the lists, each as a vCard file or a
CSV with the text to paste (only for users who may see phone numbers), and marking one sent.

Mixed into CampaignViewSet: /api/campaigns/{id}/lists/, .../lists/{number}/vcard/,
.../lists/{number}/csv/ and POST .../lists/{number}/sent/.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ..delivery.manual import CLOSED, SENT_BY_HAND, TO_SEND, campaign_lists
from ..models import Campaign, PlatformChoices, SendList
from ..services import manual_lists
from .schema import field_errors

# action name -> the permissions it needs (CampaignViewSet.action_permissions)
PERMISSIONS = {
    "lists": ["campaigns.view_campaign"],
    "list_vcard": ["campaigns.view_campaign", "campaigns.view_address"],
    "list_csv": ["campaigns.view_campaign", "campaigns.view_address"],
    "list_sent": ["campaigns.view_campaign", "campaigns.schedule_campaign"],
}
NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description=gettext_lazy("The list's number (1, 2, ...)."))
NOT_FOUND = {404: field_errors(gettext_lazy("No such campaign, it is not sent by hand, or it has no such list."))}


class ManualListSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    platform = serializers.ChoiceField(choices=PlatformChoices.choices)
    size = serializers.IntegerField(help_text=gettext_lazy("People planned into the list."))
    state = serializers.ChoiceField(choices=[TO_SEND, SENT_BY_HAND, CLOSED], help_text=gettext_lazy(
        "to_send: waiting to be sent from the app; sent: marked sent; closed: the campaign was cancelled or "
        "expired first."))
    due = serializers.DateTimeField(allow_null=True, help_text=gettext_lazy("Its earliest send time."))
    marked_sent_at = serializers.DateTimeField(allow_null=True)
    marked_sent_by = serializers.CharField(allow_null=True, help_text=gettext_lazy("Who marked it sent (username)."))


class ListMarkedSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    already_marked = serializers.BooleanField(help_text=gettext_lazy("Marked before: nothing changed."))
    sent = serializers.IntegerField(help_text=gettext_lazy("Rows recorded as sent now."))
    skipped = serializers.IntegerField(help_text=gettext_lazy("Rows skipped: opted out since the list was made."))
    marked_sent_at = serializers.DateTimeField()
    marked_sent_by = serializers.CharField(allow_null=True)
    detail = serializers.CharField()


def _manual(campaign: Campaign) -> Campaign:
    if not campaign.manual:
        raise NotFound({"detail": _("this campaign is sent by the workers: it has no lists for the phone apps")})
    return campaign


def _no_list(number: str) -> NotFound:
    return NotFound({"number": [_("this campaign has no list %(number)s") % {"number": number}]})


class ManualListsMixin:
    """The lists' actions; the view's get_object() applies the campaign permissions."""

    @extend_schema(responses={200: ManualListSerializer(many=True), **NOT_FOUND})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)  # a campaign's few lists
    def lists(self, request: Request, pk: str) -> Response:
        """A manual campaign's lists for the phone apps, with their sizes and states."""
        campaign = _manual(self.get_object())
        return Response(ManualListSerializer(campaign_lists(campaign), many=True).data)

    def _download(self, request: Request, number: str, kind: str) -> HttpResponse:
        campaign = _manual(self.get_object())
        try:
            found = manual_lists.send_list_download(campaign=campaign, number=int(number), kind=kind,
                                                    actor=request.user)
        except SendList.DoesNotExist:
            raise _no_list(number) from None
        response = HttpResponse(found.content, content_type=found.content_type)
        response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
        return response

    @extend_schema(parameters=[NUMBER], responses={(200, "text/vcard"): OpenApiTypes.BINARY, **NOT_FOUND})
    @action(detail=True, methods=["get"], url_path=r"lists/(?P<number>[0-9]{1,9})/vcard")
    def list_vcard(self, request: Request, pk: str, number: str) -> HttpResponse:
        """The list as a vCard 3.0 file (one card per person: name and mobile number), for the
        phone's contacts; needs the permission to see phone numbers."""
        return self._download(request, number, "vcard")

    @extend_schema(parameters=[NUMBER], responses={(200, "text/csv"): OpenApiTypes.BINARY, **NOT_FOUND})
    @action(detail=True, methods=["get"], url_path=r"lists/(?P<number>[0-9]{1,9})/csv")
    def list_csv(self, request: Request, pk: str, number: str) -> HttpResponse:
        """The list as CSV (name, phone, message: the text to paste, the same on every row;
        UTF-8 with a BOM); needs the permission to see phone numbers."""
        return self._download(request, number, "csv")

    @extend_schema(parameters=[NUMBER], request=None, responses={200: ListMarkedSerializer, **NOT_FOUND})
    @action(detail=True, methods=["post"], url_path=r"lists/(?P<number>[0-9]{1,9})/sent")
    def list_sent(self, request: Request, pk: str, number: str) -> Response:
        """Record that the list was sent from the app: its people still opted in count as sent
        (caps, results); the rest are skipped. Again: nothing changes. 400 before its send time."""
        campaign = _manual(self.get_object())
        try:
            marked = manual_lists.send_list_mark_sent(campaign=campaign, number=int(number), actor=request.user,
                                                      now=timezone.now())
        except SendList.DoesNotExist:
            raise _no_list(number) from None
        send_list = marked.send_list
        if marked.already:
            detail = _("list %(number)s was already marked sent; nothing changed") % {"number": number}
        else:
            detail = _("list %(number)s marked sent: %(sent)s sent, %(skipped)s skipped (opted out since)") % {
                "number": number, "sent": marked.sent, "skipped": marked.skipped}
        by = send_list.marked_sent_by
        return Response(ListMarkedSerializer({
            "number": send_list.number, "already_marked": marked.already, "sent": marked.sent,
            "skipped": marked.skipped, "marked_sent_at": send_list.marked_sent_at,
            "marked_sent_by": by.get_username() if by else None, "detail": detail}).data)
