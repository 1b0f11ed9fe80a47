"""A manual campaign in the admin: the `manual` field's check, and the campaign page's "Lists for
the phone apps" table with each list's vCard and CSV downloads (for users who may see phone
numbers) and a "Mark sent" button behind a confirmation page."""

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

from ..addresses import sees_addresses
from ..delivery.manual import TO_SEND, campaign_lists
from ..models import Campaign, SendList
from ..services import ServiceError, manual_lists

FIELD = "manual"
SECTION = "manual_lists"
MARK = "campaigns.schedule_campaign"  # who may send may say it was sent
MARKABLE = (Campaign.Status.RUNNING, Campaign.Status.PAUSED)


def clean_manual(form: forms.ModelForm, data: dict) -> None:
    """Sending by hand with a platform that has no phone-app lists (Telegram) is an error on
    `platforms` (when the form has the fields: a scheduled campaign shows them read-only)."""
    if FIELD not in form.fields or not data.get(FIELD) or "platforms" not in data:
        return
    if problem := manual_lists.manual_platform_problem(data["platforms"] or []):
        form.add_error("platforms", problem)


def fieldsets(obj: Campaign | None) -> list[tuple[str, dict]]:
    """The campaign page's section, for a manual campaign only."""
    if obj is None or not obj.manual:
        return []
    return [(gettext("Lists for the phone apps"), {"fields": [SECTION]})]


class ManualListsAdminMixin:
    """CampaignAdmin's lists for the phone apps: `manual_lists` (read-only field), the downloads
    and the confirmation page of "Mark sent"."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/lists/<int:number>/vcard/", view(self.list_vcard_view), name="campaigns_campaign_list_vcard"),
            path("<int:pk>/lists/<int:number>/csv/", view(self.list_csv_view), name="campaigns_campaign_list_csv"),
            path("<int:pk>/lists/<int:number>/sent/", view(self.list_sent_view), name="campaigns_campaign_list_sent"),
            *super().get_urls(),
        ]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # what the read-only section may offer this user
            obj.lists_downloadable = sees_addresses(request.user)
            obj.lists_markable = request.user.has_perm(MARK)
        return obj

    def manual_lists(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None or not obj.manual:
            return "-"
        rows = campaign_lists(obj)
        for row in rows:
            args = [obj.pk, row["number"]]
            row["vcard_url"] = reverse("admin:campaigns_campaign_list_vcard", args=args)
            row["csv_url"] = reverse("admin:campaigns_campaign_list_csv", args=args)
            row["sent_url"] = reverse("admin:campaigns_campaign_list_sent", args=args)
            row["markable"] = row["state"] == TO_SEND and obj.status in MARKABLE
        return render_to_string("admin/campaigns/campaign/manual_lists_section.html", {
            "lists": rows, "campaign": obj,
            "downloadable": getattr(obj, "lists_downloadable", False),
            "may_mark": getattr(obj, "lists_markable", False),
        })

    manual_lists.short_description = gettext_lazy("lists for the phone apps")

    def _campaign(self, request: HttpRequest, pk: int) -> Campaign:
        campaign = self.get_object(request, str(pk))
        if campaign is None or not self.has_view_permission(request, campaign) or not campaign.manual:
            raise PermissionDenied
        return campaign

    def _download(self, request: HttpRequest, pk: int, number: int, kind: str) -> HttpResponse:
        campaign = self._campaign(request, pk)
        if not sees_addresses(request.user):
            raise PermissionDenied  # the files hold whole phone numbers
        try:
            found = manual_lists.send_list_download(campaign=campaign, number=number, kind=kind, actor=request.user)
        except SendList.DoesNotExist:
            messages.error(request, gettext("This campaign has no list %(number)s.") % {"number": number})
            return redirect("admin:campaigns_campaign_change", campaign.pk)
        response = HttpResponse(found.content, content_type=found.content_type)
        response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
        return response

    def list_vcard_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        return self._download(request, pk, number, "vcard")

    def list_csv_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        return self._download(request, pk, number, "csv")

    def list_sent_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        """GET: what marking the list sent means, and the button; POST: mark it."""
        campaign = self._campaign(request, pk)
        if not request.user.has_perm(MARK):
            raise PermissionDenied
        found = next((row for row in campaign_lists(campaign) if row["number"] == number), None)
        if found is None:
            messages.error(request, gettext("This campaign has no list %(number)s.") % {"number": number})
            return redirect("admin:campaigns_campaign_change", campaign.pk)
        if request.method == "POST":
            try:
                marked = manual_lists.send_list_mark_sent(campaign=campaign, number=number, actor=request.user)
            except ServiceError as exc:
                messages.error(request, gettext("List %(number)s not marked sent: %(problems)s")
                               % {"number": number, "problems": "; ".join(exc.messages)})
            else:
                if marked.already:
                    messages.info(request, gettext("List %(number)s was already marked sent; nothing changed.")
                                  % {"number": number})
                else:
                    messages.success(request, gettext(
                        "List %(number)s marked sent: %(sent)s sent, %(skipped)s skipped (opted out since).")
                        % {"number": number, "sent": marked.sent, "skipped": marked.skipped})
            return redirect("admin:campaigns_campaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": gettext("Mark list %(number)s sent?") % {"number": number},
            "list": found,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/manual_list_sent.html", context)
