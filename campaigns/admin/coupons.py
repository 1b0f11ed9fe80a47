"""The campaign page's Coupons section: the pool's counts and a page to add codes (pasted or a CSV)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from ..models import Campaign
from ..services import coupons as coupon_service
from ..services.errors import ServiceError


class CouponUploadForm(forms.Form):
    codes = forms.CharField(
        required=False, label=gettext_lazy("Codes"), widget=forms.Textarea(attrs={"rows": 10, "cols": 40}),
        help_text=gettext_lazy("One code a line."))
    file = forms.FileField(required=False, label=gettext_lazy("Or a CSV file"),
                           help_text=gettext_lazy("UTF-8, one code a line, an optional header “code”."))
    # Offered when the campaign has variants (coupons_view fills the choices).
    variant = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label=gettext_lazy("Pool"),
                                     help_text=gettext_lazy("A VIP group's own pool, or the campaign's common pool."))

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("codes") or "").strip() and not data.get("file"):
            raise forms.ValidationError(gettext("Paste codes or choose a CSV file."))
        return data


class CouponsAdminMixin:
    """CampaignAdmin's coupon pool: `coupons_section` (read-only field) and the upload page."""

    def get_urls(self):
        return [
            path("<int:pk>/coupons/", self.admin_site.admin_view(self.coupons_view), name="campaigns_campaign_coupons"),
            *super().get_urls(),
        ]

    def coupons_section(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "-"
        return render_to_string("admin/campaigns/campaign/coupons_section.html", {
            "counts": coupon_service.coupon_counts(obj),
            "open": obj.status in coupon_service.OPEN and obj.planned_at is None and obj.planned_through is None,
            "url": reverse("admin:campaigns_campaign_coupons", args=[obj.pk]),
        })

    coupons_section.short_description = gettext_lazy("coupon pool")

    def coupons_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Add codes to the pool, all or none; the problems are named on the page."""
        if not request.user.has_perm("campaigns.add_couponcode"):
            raise PermissionDenied
        campaign = self.get_object(request, str(pk))
        if campaign is None:
            return redirect("admin:campaigns_campaign_changelist")
        form = CouponUploadForm(request.POST or None, request.FILES or None)
        variants = list(campaign.variants.order_by("position", "pk").values_list("pk", "label"))
        if variants:
            form.fields["variant"].choices = [("", gettext("the campaign's common pool")), *variants]
        else:
            del form.fields["variant"]
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                if form.cleaned_data.get("file"):
                    upload = form.cleaned_data["file"]
                    codes: list[object] = coupon_service.codes_from_csv(
                        upload.read(coupon_service.UPLOAD_MAX_BYTES + 1))
                else:
                    codes = [line for line in form.cleaned_data["codes"].splitlines() if line.strip()]
                variant = coupon_service.coupon_variant(campaign, form.cleaned_data.get("variant"))
                added = coupon_service.coupons_add(campaign=campaign, codes=codes, variant=variant)
            except ServiceError as exc:
                problems = exc.messages
            else:
                messages.success(request, gettext("%(n)s codes added to the pool.") % {"n": added})
                return redirect("admin:campaigns_campaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": gettext("Coupons: %(campaign)s") % {"campaign": campaign},
            "form": form,
            "problems": problems,
            "counts": coupon_service.coupon_counts(campaign),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/coupons.html", context)
