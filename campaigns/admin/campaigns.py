"""Campaigns in the admin: schedule, approve, reject, pause, resume, cancel; the ledger and the policy."""

from __future__ import annotations

from auditlog.models import LogEntry
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import ModelAdmin

from channels.limits import PLATFORMS

from .. import delivery, services
from ..addresses import hide_address
from ..audit import APPROVAL_VERBS
from ..models import (
    Campaign,
    Delivery,
    FrequencyPolicy,
    InstallationSettings,
    PlatformChoices,
    SendList,
)
from . import campaign_accounts, paid_broadcast, spread_window
from . import manual_lists as manual_lists_admin
from . import series as series_admin
from . import variants as variants_admin
from .campaign_page import CampaignControls, platform_names
from .common import ReadOnlyAdmin, _table
from .content import _previews_table
from .coupons import CouponsAdminMixin
from .dates import viewer_time
from .follow_ups import FollowUpsAdminMixin
from .installation import InstallationSettingsForm
from .local_times import local_times_html
from .pagination import EstimatedCountPaginator
from .privacy import AddressMasking


class CampaignForm(forms.ModelForm):
    platforms = forms.MultipleChoiceField(choices=PlatformChoices.choices, widget=forms.CheckboxSelectMultiple)
    timezone = series_admin.zone_field()
    recurrence = series_admin.recurrence_field()

    class Meta:
        model = Campaign
        fields = ["name", "draft", "segment", "platforms", "send_at", "local_time", "expires_at"]
        fields += spread_window.FIELDS
        fields += [paid_broadcast.FIELD]
        fields += [manual_lists_admin.FIELD]
        fields += series_admin.FIELDS
        fields += variants_admin.FIELDS  # kind, protect_content, the A/B test's settings
        fields += campaign_accounts.FIELDS  # the sender account per platform
        help_texts = spread_window.HELP_TEXTS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        campaign_accounts.limit_choices(self)  # each platform's active accounts

    def clean_platforms(self):
        return [p for p in PLATFORMS if p in self.cleaned_data["platforms"]]

    def clean(self):
        data = super().clean()
        if data.get("send_at") and data.get("expires_at") and data["expires_at"] <= data["send_at"]:
            self.add_error("expires_at", gettext("expires_at must be after send_at"))
        spread_window.clean_spread_window(self, data)
        paid_broadcast.clean_paid_broadcast(self, data)
        manual_lists_admin.clean_manual(self, data)
        series_admin.clean_series(self, data)
        variants_admin.clean_kind(self, data)
        campaign_accounts.clean_accounts(self, data)
        return data


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
                             help_text=gettext_lazy("What to change before submitting again."))


@admin.register(Campaign)
class CampaignAdmin(manual_lists_admin.ManualListsAdminMixin, CouponsAdminMixin, FollowUpsAdminMixin,
                    series_admin.SeriesAdminMixin, variants_admin.VariantsAdminMixin, CampaignControls):
    form = CampaignForm
    # Fits 1400 px: the outcome counts are one bar (its tooltip has the numbers).
    list_display = ["name", "status", "send_at", "platform_list", "segment", "draft", "progress_bar"]
    list_filter = ["status", "local_time", "send_at"]
    search_fields = ["name", "draft__title", "segment__name"]
    list_select_related = ["draft", "segment"]
    autocomplete_fields = ["draft", "segment"]
    date_hierarchy = "send_at"
    actions = ["schedule", "approve", "reject", "pause", "resume", "cancel"]

    # One method per action permission, for the list's actions (request) and the page's
    # buttons (request, object_id) alike; named, not dotted, so no system check queries the
    # database before it is migrated.
    def has_schedule_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.schedule_campaign")

    def has_approve_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.approve_campaign")

    def has_pause_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.pause_campaign")

    def has_cancel_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.cancel_campaign")

    def has_duplicate_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.add_campaign")

    def has_send_test_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.add_testsend")

    readonly_fields = ["status", "problem", "problem_since", "results", "sends_chart", "forecast_inline",
                       "channels_in_use",
                       "frozen_content", "approval", "scheduled_at", "started_at", "finished_at", "cancelled_at",
                       "platform_list", "local_times", "coupons_section", manual_lists_admin.SECTION,
                       "follow_ups_section", *series_admin.READONLY, *variants_admin.READONLY]

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("send_at", "expires_at", "recurrence_until") and field is not None:
            # The middleware activated the user's own zone (or TIME_ZONE) for this request.
            zone = gettext("Times are in %(zone)s.") % {"zone": timezone.get_current_timezone_name()}
            field.help_text = f"{field.help_text} {zone}".strip()
        if db_field.name == paid_broadcast.FIELD and field is not None:
            field.help_text = paid_broadcast.help_text()  # with the cost at this installation's ceiling
        return field

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None):
        platforms = "platforms" if self.has_change_permission(request, obj) else "platform_list"
        campaign = ["name", "draft", "segment", platforms, "send_at", "local_time", "expires_at"]
        campaign.insert(campaign.index(platforms) + 1, paid_broadcast.FIELD)
        campaign.insert(campaign.index(platforms) + 1, manual_lists_admin.FIELD)
        if obj is None:
            return [(None, {"fields": campaign}), *campaign_accounts.fieldsets(None), spread_window.fieldset(),
                    *series_admin.fieldsets(None, editable=True), *variants_admin.fieldsets(None)]
        campaign.insert(campaign.index("local_time") + 1, "local_times")
        return [
            (None, {"fields": [*campaign, "status", "problem", "problem_since"]}),
            *campaign_accounts.fieldsets(obj),
            spread_window.fieldset(),
            *series_admin.fieldsets(obj, editable=self.has_change_permission(request, obj)),
            (gettext("Results"), {"fields": ["results", "sends_chart"]}),
            *variants_admin.fieldsets(obj),  # A/B test or VIP offers: settings, results per variant
            (gettext("Follow-ups"), {"fields": ["follow_ups_section"]}),
            *manual_lists_admin.fieldsets(obj),
            (gettext("Forecast"), {"fields": ["forecast_inline"]}),
            (gettext("Channels"), {"fields": ["channels_in_use"]}),
            (gettext("Content"), {"fields": ["frozen_content"]}),
            (gettext("Coupons"), {"fields": ["coupons_section"]}),
            (gettext("Approval"), {"fields": ["approval"]}),
            (gettext("Timeline"), {"fields": ["scheduled_at", "started_at", "finished_at", "cancelled_at"]}),
        ]

    def save_model(self, request: HttpRequest, obj: Campaign, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=gettext_lazy("when each zone gets it"))
    def local_times(self, obj: Campaign) -> SafeString | str:
        return local_times_html(obj)

    @admin.display(description=gettext_lazy("approval"))
    def approval(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "-"
        rows = [[viewer_time(entry.timestamp), entry.actor or "-", entry.additional_data["verb"],
                 entry.additional_data.get("reason", "")]
                for entry in LogEntry.objects.get_for_object(obj).select_related("actor").filter(
                    additional_data__verb__in=APPROVAL_VERBS).order_by("timestamp", "pk")]
        nobody = gettext("nobody known")
        who = [gettext("created by %(who)s") % {"who": obj.created_by or nobody}]
        if obj.submitted_at:
            who.append(gettext("submitted by %(who)s at %(when)s")
                       % {"who": obj.submitted_by or nobody, "when": viewer_time(obj.submitted_at)})
        if obj.approved_at:
            who.append(gettext("approved by %(who)s at %(when)s")
                       % {"who": obj.approved_by or nobody, "when": viewer_time(obj.approved_at)})
        headers = [gettext("when"), gettext("who"), gettext("what"), gettext("why")]
        return format_html("<p>{}</p>{}", "; ".join(who), _table(headers, rows) if rows else "")

    def get_urls(self):
        return [
            path("<int:pk>/forecast/", self.admin_site.admin_view(self.forecast_view), name="campaigns_campaign_forecast"),
            *super().get_urls(),
        ]

    def forecast_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_object(request, str(pk))
        if campaign is None:
            return redirect("admin:campaigns_campaign_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": gettext("Forecast: %(campaign)s") % {"campaign": campaign},
            "forecast": delivery.campaign_forecast(campaign=campaign, now=timezone.now()),
        }
        context["timeline_chart"] = spread_window.timeline_html(context["forecast"], campaign)
        return TemplateResponse(request, "admin/campaigns/campaign/forecast.html", context)

    @admin.display(description=gettext_lazy("channels"))
    def channels_in_use(self, obj: Campaign) -> SafeString:
        """Per platform: the sender account, live or sandbox with that account's credentials."""
        return campaign_accounts.channels_table(obj, platform_names)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return [*CampaignForm.Meta.fields, *self.readonly_fields]
        return self.readonly_fields

    @admin.display(description=gettext_lazy("content (frozen when scheduled)"))
    def frozen_content(self, obj: Campaign) -> SafeString | str:
        if obj.status == Campaign.Status.DRAFT:
            return gettext("Taken from the draft when the campaign is scheduled.")
        return format_html("<strong>{}</strong><pre style='white-space:pre-wrap'>{}</pre>{}",
                           obj.content_title, obj.content_body, _previews_table(obj.content_body))

    @admin.action(description=gettext_lazy("Schedule the selected campaigns (or ask for approval)"),
                  permissions=["schedule"])
    def schedule(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                campaign = services.campaign_schedule(campaign=campaign, actor=request.user)
            except services.ServiceError as exc:
                self.message_user(request, gettext("“%(campaign)s” not scheduled: %(problems)s")
                                  % {"campaign": campaign, "problems": "; ".join(exc.messages)}, messages.ERROR)
            else:
                if campaign.status == Campaign.Status.AWAITING_APPROVAL:
                    self.message_user(request, gettext("“%(campaign)s” awaits approval by another user.")
                                      % {"campaign": campaign})
                else:
                    self.message_user(request, gettext("“%(campaign)s” scheduled for %(when)s.")
                                      % {"campaign": campaign, "when": viewer_time(campaign.send_at)})

    @admin.action(description=gettext_lazy("Approve the selected campaigns (submitted by someone else)"),
                  permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                campaign = services.campaign_approve(campaign=campaign, actor=request.user)
            except services.ServiceError as exc:
                self.message_user(request, gettext("“%(campaign)s” not approved: %(problems)s")
                                  % {"campaign": campaign, "problems": "; ".join(exc.messages)}, messages.ERROR)
            else:
                self.message_user(request, gettext("“%(campaign)s” approved, scheduled for %(when)s.")
                                  % {"campaign": campaign, "when": viewer_time(campaign.send_at)})

    @admin.action(description=gettext_lazy("Reject the selected campaigns (back to draft, saying why)"),
                  permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> TemplateResponse | None:
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": gettext("Reject campaigns awaiting approval"),
                "campaigns": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/campaigns/campaign/reject.html", context)
        for campaign in queryset:
            try:
                services.campaign_reject(campaign=campaign, actor=request.user, reason=form.cleaned_data["reason"])
            except services.ServiceError as exc:
                self.message_user(request, gettext("“%(campaign)s” not rejected: %(problems)s")
                                  % {"campaign": campaign, "problems": "; ".join(exc.messages)}, messages.ERROR)
            else:
                self.message_user(request, gettext("“%(campaign)s” rejected: back to draft.") % {"campaign": campaign})
        return None

    @admin.action(description=gettext_lazy("Pause the selected campaigns"), permissions=["pause"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_pause, gettext("“%(campaign)s” paused."))

    @admin.action(description=gettext_lazy("Resume the selected campaigns"), permissions=["pause"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_resume, gettext("“%(campaign)s” resumed."))

    def _transition(self, request, queryset, service, done: str) -> None:
        """`done` is the translated success message, with a %(campaign)s placeholder."""
        for campaign in queryset:
            try:
                service(campaign=campaign, actor=request.user)
            except services.ServiceError as exc:
                self.message_user(request, gettext("“%(campaign)s”: %(problems)s")
                                  % {"campaign": campaign, "problems": "; ".join(exc.messages)}, messages.ERROR)
            else:
                self.message_user(request, done % {"campaign": campaign})

    @admin.action(description=gettext_lazy("Cancel the selected campaigns"), permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                services.campaign_cancel(campaign=campaign, actor=request.user)
            except services.ServiceError as exc:
                self.message_user(request, gettext("“%(campaign)s” not cancelled: %(problems)s")
                                  % {"campaign": campaign, "problems": "; ".join(exc.messages)}, messages.ERROR)
            else:
                self.message_user(request, gettext("“%(campaign)s” cancelled.") % {"campaign": campaign})


@admin.register(Delivery)
class DeliveryAdmin(AddressMasking, ReadOnlyAdmin):
    list_display = ["campaign", "subscriber", "platform", "sender_account", "list_number", "status", "reason",
                    "send_after", "sent_at", "delivered_at", "read_at"]
    list_filter = ["status", "platform", "campaign"]
    search_fields = ["subscriber__name", "subscription__address", "reason"]
    list_select_related = ["campaign", "subscriber", "send_list__account"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # unfiltered: the planner's estimate, not a COUNT(*) of the ledger

    def hide_addresses(self, obj: Delivery) -> None:
        hide_address(obj.subscription)

    @admin.display(description=gettext_lazy("sender account"))
    def sender_account(self, obj: Delivery) -> str:
        """Its list's account (the default one when none); joined in the list's query."""
        account = obj.send_list.account if obj.send_list is not None else None
        return account.slug if account is not None else gettext("default")


class SingletonAdmin(ModelAdmin):
    """One row (the model's `current()`): its list opens the row itself."""

    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        found = self.model.current()
        if found._state.adding:  # the defaults, never saved yet: the change page needs the row
            found.save()
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", found.pk)


@admin.register(FrequencyPolicy)
class FrequencyPolicyAdmin(SingletonAdmin):
    pass


@admin.register(InstallationSettings)
class InstallationSettingsAdmin(SingletonAdmin):
    form = InstallationSettingsForm
    fields = ["default_phone_region", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(SendList)
class SendListAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "number", "platform", "sender_account", "size", "state", "next_due", "heartbeat_at"]
    list_filter = ["platform", "state", "campaign"]
    list_select_related = ["campaign", "account"]

    @admin.display(description=gettext_lazy("sender account"), ordering="account__slug")
    def sender_account(self, obj: SendList) -> str:
        return obj.account.slug if obj.account is not None else gettext("default")
