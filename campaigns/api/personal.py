"""A draft rendered for one person, and a campaign's coupon pool, over REST."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .. import personalise
from ..models import Campaign, Draft, Subscriber
from ..services import coupons as coupon_service
from ..services.personal import draft_rendered, sample_values, subscriber_values


class CouponUploadSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text=gettext_lazy(
        "CSV (UTF-8): one code a line, an optional header `code`."))
    codes = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                  required=False, help_text=gettext_lazy("Or the codes as a JSON list."))
    variant = serializers.IntegerField(required=False, allow_null=True, help_text=gettext_lazy(
        "A variant's own pool (a VIP group's offer); absent: the campaign's common pool."))


class CouponCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    assigned = serializers.IntegerField(help_text=gettext_lazy("Given to a delivery (never given again)."))
    free = serializers.IntegerField()


class CouponsAddedSerializer(CouponCountsSerializer):
    added = serializers.IntegerField(help_text=gettext_lazy("Codes added by this upload."))


def answer_preview(request: Request, *, draft: Draft) -> Response:
    """The draft per platform as `?subscriber=<id>` (or a made-up sample person) would receive it."""
    raw = request.query_params.get("subscriber", "")
    subscriber = None
    if raw:
        if not request.user.has_perm("campaigns.view_subscriber"):
            raise PermissionDenied
        if not raw.isdigit() or not (subscriber := Subscriber.objects.filter(pk=int(raw)).first()):
            raise ValidationError({"subscriber": [_("no subscriber #%(id)s") % {"id": raw[:20]}]})
    values = subscriber_values(subscriber) if subscriber else sample_values()
    try:
        platforms = draft_rendered(draft, values)
    except personalise.PlaceholderError as exc:
        raise ValidationError({"body": [str(exc)]}) from exc
    return Response({"subscriber": subscriber.pk if subscriber else None, "platforms": platforms})


def answer_coupons(request: Request, *, campaign: Campaign) -> Response:
    """GET: the pool's counts; POST: add codes (multipart `file` or JSON `codes`), all or none;
    `variant` (in the body, or ?variant= for GET): that variant's own pool."""
    source = request.data if request.method == "POST" and hasattr(request.data, "get") else request.query_params
    variant = coupon_service.coupon_variant(campaign, source.get("variant"))
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is not None:
            data = upload.read(coupon_service.UPLOAD_MAX_BYTES + 1)
            codes: list[object] = coupon_service.codes_from_csv(data)
            field = "file"
        else:
            given = request.data.get("codes") if hasattr(request.data, "get") else None
            if not isinstance(given, list):
                raise ValidationError({"codes": [_("send a CSV as multipart field `file`, or JSON {\"codes\": [...]}")]})
            codes, field = given, "codes"
        added = coupon_service.coupons_add(campaign=campaign, codes=codes, field=field, variant=variant)
        return Response({"added": added, **coupon_service.coupon_counts(campaign, variant)},
                        status=status.HTTP_201_CREATED)
    return Response(coupon_service.coupon_counts(campaign, variant))
