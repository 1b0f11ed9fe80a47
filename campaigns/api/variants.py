"""A campaign's variants over REST: `variants` on /api/campaigns/ (an A/B test's 2-4 drafts, or
one per VIP group), the results per variant, and picking an A/B test's winner."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ..delivery.variants import variant_results
from ..models import Campaign, CampaignVariant
from ..services import variants as variant_service
from ..services.audience import vip_groups

# The campaign actions of this module and the permissions they need.
PERMISSIONS = {"variants": ["campaigns.view_campaign"], "winner": ["campaigns.schedule_campaign"]}


class VariantSerializer(serializers.ModelSerializer):
    """One variant as given when the campaign is created or edited (a draft campaign only)."""

    class Meta:
        model = CampaignVariant
        fields = ["id", "label", "position", "draft", "segment"]
        read_only_fields = ["id", "position"]
        extra_kwargs = {"segment": {"required": False, "allow_null": True, "help_text": gettext_lazy(
            "VIP offers: the VIP group (a static segment) that gets this variant; null for an A/B test.")},
            "label": {"help_text": gettext_lazy("A, B, ... or the group's name; {{ group_name }} in a VIP text.")}}


def variants_problems(attrs: dict, instance: Campaign | None) -> dict[str, list[str]]:
    """The given `variants` checked against the campaign's kind (400 by field)."""
    given = attrs.get("variants")
    if given is None:
        return {}
    kind = attrs.get("kind", getattr(instance, "kind", Campaign.Kind.STANDARD))
    return variant_service.variants_input_problems(kind=kind, variants=[
        variant_service.VariantInput(v.get("label", ""), v["draft"], v.get("segment")) for v in given])


def variants_save(campaign: Campaign, given: list[dict] | None, *, created: bool) -> None:
    """Store the given variants; a new VIP campaign without any gets one per VIP group of its
    segment (when it has groups)."""
    if given is not None:
        variant_service.campaign_variants_set(campaign=campaign, variants=[
            variant_service.VariantInput(v.get("label", ""), v["draft"], v.get("segment")) for v in given])
    elif created and campaign.kind == Campaign.Kind.VIP and vip_groups(campaign.segment):
        variant_service.vip_variants_from_groups(campaign=campaign)


class WinnerRequestSerializer(serializers.Serializer):
    variant = serializers.IntegerField(help_text=gettext_lazy("The id of the variant that goes to the rest."))


def answer_winner(request: Request, *, campaign: Campaign) -> Campaign:
    """Pick an A/B test's winner (400 naming `variant` for one not of this campaign)."""
    raw = request.data.get("variant") if hasattr(request.data, "get") else None
    if raw is None:
        raise serializers.ValidationError({"variant": [gettext_lazy("say which variant wins: {\"variant\": id}")]})
    return variant_service.campaign_pick_winner(campaign=campaign, variant_id=raw, actor=request.user,
                                                now=timezone.now())


def answer_results(campaign: Campaign) -> Response:
    return Response(variant_results(campaign))
