"""POST /api/drafts/{id}/test/ and /api/campaigns/{id}/test/: a test send to the testers, now."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ..delivery.tester_sends import testers_send
from ..models import Campaign, Draft, TestSend
from ..serializers import PLATFORM_CHOICES, AddressField

# Who may send a test: the model permission Django makes for TestSend (campaigns/roles.py).
SEND_TEST = "campaigns.add_testsend"


class TestSendRequestSerializer(serializers.Serializer):
    platforms = serializers.ListField(
        child=serializers.ChoiceField(choices=PLATFORM_CHOICES), required=False, allow_empty=False,
        help_text=gettext_lazy("Only these platforms (default: the campaign's platforms; for a draft, all)."))
    subscribers = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=False, max_length=100,
        help_text=gettext_lazy("Only these testers (subscriber ids); each must be a tester."))
    variant = serializers.IntegerField(min_value=1, required=False, help_text=gettext_lazy(
        "A campaign's test only: send this variant's message (an A/B test's or a VIP group's) instead of the "
        "campaign's own."))

    __test__ = False  # not a pytest test class


class TestSendSerializer(serializers.ModelSerializer):
    subscriber = serializers.IntegerField(source="subscription.subscriber_id", read_only=True)
    address = AddressField()

    __test__ = False

    class Meta:
        model = TestSend
        fields = ["id", "draft", "campaign", "subscriber", "platform", "address", "status", "reason",
                  "platform_message_id", "text", "requested_by", "created_at"]
        read_only_fields = fields


def answer_test_send(request: Request, *, draft: Draft | None = None, campaign: Campaign | None = None) -> Response:
    """Validate the body, send, and answer 201 with one outcome per message (400 by field)."""
    body = TestSendRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    made = testers_send(draft=draft, campaign=campaign, platforms=body.validated_data.get("platforms"),
                        subscriber_ids=body.validated_data.get("subscribers"), actor=request.user,
                        variant_id=body.validated_data.get("variant"))
    data = TestSendSerializer(made, many=True, context={"request": request}).data
    return Response(data, status=status.HTTP_201_CREATED)
