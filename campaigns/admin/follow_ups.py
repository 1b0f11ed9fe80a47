"""The campaign page's follow-ups: resend to the uncertain (after a confirmation that says how
many and that some may get it twice), resend to temporary failures, and a follow-up campaign
over those who did not read / did not click within N hours (services/follow_ups.py)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminSplitDateTimeWidget, UnfoldAdminTextInputWidget

from ..models import Campaign, Draft
from ..services import follow_ups
from ..services.errors import ServiceError

RESEND_PERMISSION = "campaigns.schedule_campaign"
FOLLOW_UP_PERMISSIONS = ("campaigns.add_campaign", "campaigns.add_segment")
# Where the page is offered: the campaign sent something.
OFFERED = (Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)


class ResendUncertainForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand that some of these people may get the message twice."),
        error_messages={"required": gettext_lazy("Tick the box to confirm: some may get it twice.")})


class FollowUpForm(forms.Form):
    rule = forms.ChoiceField(
        label=gettext_lazy("Send to those who"),
        choices=[("not_read", gettext_lazy("did not read it (WhatsApp and Viber: Telegram reports no reads)")),
                 ("not_clicked", gettext_lazy("did not click (every platform)"))],
        widget=forms.RadioSelect, initial="not_read")
    hours = forms.IntegerField(
        label=gettext_lazy("within (hours)"), min_value=1, max_value=follow_ups.HOURS_MAX, initial=24,
        widget=UnfoldAdminTextInputWidget(attrs={"type": "number", "min": 1, "max": follow_ups.HOURS_MAX}))
    draft = forms.ModelChoiceField(
        queryset=Draft.objects.order_by("-id"), required=False, label=gettext_lazy("Message"),
        empty_label=gettext_lazy("the campaign's own draft"), widget=UnfoldAdminSelectWidget)
    send_at = forms.SplitDateTimeField(
        required=False, label=gettext_lazy("Send at"), widget=UnfoldAdminSplitDateTimeWidget,
        help_text=gettext_lazy("Empty: an hour from now. The follow-up is a draft: check and schedule it."))

    def clean_send_at(self):
        value = self.cleaned_data.get("send_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError(gettext("Choose a time in the future."))
        return value


class FollowUpsAdminMixin:
    """CampaignAdmin's follow-ups: `follow_ups_section` (read-only field) and the page behind
    the "Follow up" button (campaign_page.py)."""

    def has_follow_up_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm(RESEND_PERMISSION) or request.user.has_perms(FOLLOW_UP_PERMISSIONS)

    def follow_ups_section(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "-"
        return render_to_string("admin/campaigns/campaign/follow_ups_section.html", {
            "campaign": obj,
            "counts": follow_ups.resend_counts(obj) if obj.status in OFFERED else None,
            "url": reverse("admin:campaigns_campaign_follow_up_button", args=[obj.pk]),
            "of_rule": follow_ups.rule_label(obj.follow_up_rule) if obj.follow_up_of_id else "",
            "follow_ups": list(obj.follow_ups.order_by("pk")),
        })

    follow_ups_section.short_description = gettext_lazy("follow-ups")

    def follow_up_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the three follow-ups with their counts; POST (`do`): one of them."""
        campaign = self.get_object(request, object_id)
        if campaign is None:
            return redirect("admin:campaigns_campaign_changelist")
        uncertain_form = ResendUncertainForm(request.POST if request.POST.get("do") == "uncertain" else None)
        follow_up_form = FollowUpForm(request.POST if request.POST.get("do") == "follow_up" else None)
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            done = self._follow_up_do(request, campaign, uncertain_form, follow_up_form, problems)
            if done is not None:
                return done
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": gettext("Follow up: %(campaign)s") % {"campaign": campaign},
            "counts": follow_ups.resend_counts(campaign),
            "uncertain_form": uncertain_form,
            "follow_up_form": follow_up_form,
            "problems": problems,
            "may_resend": request.user.has_perm(RESEND_PERMISSION),
            "may_follow_up": request.user.has_perms(FOLLOW_UP_PERMISSIONS),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/follow_up.html", context)

    def _follow_up_do(self, request: HttpRequest, campaign: Campaign, uncertain_form: ResendUncertainForm,
                      follow_up_form: FollowUpForm, problems: dict[str, list[str]]) -> HttpResponse | None:
        """Run the chosen follow-up; a response when it is done, None (with `problems` or the
        forms' errors) to show the page again."""
        do = request.POST.get("do")
        back = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        try:
            if do in ("uncertain", "failed"):
                if not request.user.has_perm(RESEND_PERMISSION):
                    raise PermissionDenied
                if do == "uncertain" and not uncertain_form.is_valid():
                    return None
                count = follow_ups.campaign_resend(campaign=campaign, which=do, confirm=do == "uncertain",
                                                   actor=request.user)
                messages.success(request, gettext("%(n)s rows of “%(campaign)s” are sent again now.")
                                 % {"n": count, "campaign": campaign})
                return redirect(back)
            if do == "follow_up":
                if not request.user.has_perms(FOLLOW_UP_PERMISSIONS):
                    raise PermissionDenied
                if not follow_up_form.is_valid():
                    return None
                data = follow_up_form.cleaned_data
                made = follow_ups.campaign_follow_up(campaign=campaign, rule=data["rule"], hours=data["hours"],
                                                     draft=data["draft"], send_at=data["send_at"], actor=request.user)
                messages.success(request, follow_ups.follow_up_note(made))
                return redirect(reverse("admin:campaigns_campaign_change", args=[made.campaign.pk]))
        except ServiceError as exc:
            problems.update({field or "": msgs for field, msgs in exc.by_field.items()})
            return None
        problems[""] = [gettext("Choose one of the follow-ups below.")]
        return None
