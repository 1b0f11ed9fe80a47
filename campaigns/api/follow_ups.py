"""POST /api/campaigns/{id}/resend/ and /api/campaigns/{id}/follow-up/ (services/follow_ups.py)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import Campaign, Draft
from ..services import follow_ups

RESEND = ["campaigns.schedule_campaign"]
FOLLOW_UP = ["campaigns.add_campaign", "campaigns.add_segment"]


class ResendRequestSerializer(serializers.Serializer):
    which = serializers.ChoiceField(
        choices=follow_ups.RESEND,
        help_text=gettext_lazy("`uncertain`: rows the platform may or may not have taken (some may get it twice); "
                               "`failed`: rows that failed for a temporary reason after every retry."))
    confirm = serializers.BooleanField(
        default=False, help_text=gettext_lazy("Required (true) for `uncertain`: you accept that some may get it twice."))


class ResendResultSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    which = serializers.CharField()
    resent = serializers.IntegerField(help_text=gettext_lazy("Rows put back in line, due now."))
    status = serializers.CharField(help_text=gettext_lazy("The campaign's status now (a completed one runs again)."))


class FollowUpRequestSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=follow_ups.RULES,
        help_text=gettext_lazy("`not_read`: people on WhatsApp and Viber who have not read it (Telegram reports no "
                               "reads: its people are left out and counted in `no_read_receipts`); `not_clicked`: "
                               "everyone reached who has not clicked a tracked link."))
    hours = serializers.IntegerField(min_value=1, max_value=follow_ups.HOURS_MAX,
                                     help_text=gettext_lazy("Sent at least this many hours ago."))
    draft = serializers.PrimaryKeyRelatedField(
        queryset=Draft.objects.all(), required=False, allow_null=True,
        help_text=gettext_lazy("The follow-up's message; default: the campaign's draft."))
    send_at = serializers.DateTimeField(required=False, allow_null=True,
                                        help_text=gettext_lazy("Default: an hour from now; it is a draft until scheduled."))

    def validate_send_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(_("send_at must be in the future"))
        return value


class FollowUpResultSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text=gettext_lazy("The new draft campaign."))
    segment = serializers.IntegerField(help_text=gettext_lazy("Its static segment: exactly these people."))
    people = serializers.IntegerField()
    rule = serializers.CharField(help_text=gettext_lazy("Stored as `not_read:24h`."))
    no_read_receipts = serializers.IntegerField(
        help_text=gettext_lazy("`not_read`: people it reached on platforms that report no reads (Telegram), left "
                               "out because nobody can tell whether they read it; 0 for `not_clicked`."))
    note = serializers.CharField()


def answer_resend(request: Request, *, campaign: Campaign) -> Response:
    body = ResendRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    which = body.validated_data["which"]
    count = follow_ups.campaign_resend(campaign=campaign, which=which, confirm=body.validated_data["confirm"],
                                       actor=request.user)
    campaign.refresh_from_db(fields=["status"])
    return Response({"campaign": campaign.pk, "which": which, "resent": count, "status": campaign.status})


def answer_follow_up(request: Request, *, campaign: Campaign) -> Response:
    body = FollowUpRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    made = follow_ups.campaign_follow_up(campaign=campaign, rule=data["rule"], hours=data["hours"],
                                         draft=data.get("draft"), send_at=data.get("send_at"), actor=request.user)
    return Response({
        "campaign": made.campaign.pk, "segment": made.campaign.segment_id, "people": made.people,
        "rule": made.campaign.follow_up_rule, "no_read_receipts": made.no_read_receipts,
        "note": follow_ups.follow_up_note(made),
    }, status=status.HTTP_201_CREATED)
