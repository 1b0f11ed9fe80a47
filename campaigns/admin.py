"""The marketer's workplace: audience, consent proof, segments, drafts, campaigns, ledger."""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from channels.limits import PLATFORMS

from channels.registry import channel_for

from . import delivery, rules, selectors, services
from .services import imports
from .services.audience import segment_split_vip
from .models import (
    Campaign,
    ConsentEvent,
    Delivery,
    Draft,
    FrequencyPolicy,
    PlatformChoices,
    Segment,
    SendList,
    Subscriber,
    Subscription,
    Tag,
)

admin.site.site_header = "Tact"
admin.site.site_title = "Tact"
admin.site.index_title = "Campaigns for people who asked for them"


def _table(headers: list[str], rows: list[list[Any]]) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def _ok(flag: bool, good: str = "ok", bad: str = "over the limit") -> SafeString:
    colour = "#2e7d32" if flag else "#c62828"
    return format_html('<strong style="color:{}">{}</strong>', colour, good if flag else bad)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the system only (the ledger, consent proof, lists): look, never edit."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- audience -----------------------------------------------------------------------


class SubscriptionFilter(admin.SimpleListFilter):
    """Platform and status of the same subscription (not any platform + any status)."""

    parameter_name = "platform"
    title = "platform"

    def lookups(self, request, model_admin):
        return PlatformChoices.choices

    def queryset(self, request, queryset):
        wanted = {"platform": self.value(), "status": request.GET.get("sub_status")}
        wanted = {k: v for k, v in wanted.items() if v}
        if not wanted:
            return queryset
        return queryset.filter(Exists(Subscription.objects.filter(subscriber_id=OuterRef("pk"), **wanted)))


class SubscriptionStatusFilter(admin.SimpleListFilter):
    parameter_name = "sub_status"
    title = "subscription status"

    def lookups(self, request, model_admin):
        return Subscription.Status.choices

    def queryset(self, request, queryset):
        if not self.value() or request.GET.get("platform"):
            return queryset  # combined with the platform by SubscriptionFilter
        return queryset.filter(
            Exists(Subscription.objects.filter(subscriber_id=OuterRef("pk"), status=self.value()))
        )


def _consent_event_label(event: ConsentEvent) -> str:
    """What the event did, in the words of the consent history."""
    if event.kind == ConsentEvent.Kind.OPT_IN:
        label = "opted in"
    elif event.kind == ConsentEvent.Kind.SUPPRESSION:
        label = f"{event.get_status_display()} (delivery bounce; consent not withdrawn)"
    else:
        label = event.get_status_display()
    return f"{label}, by the person" if event.by_person else label


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    fields = ["platform", "address", "status", "saved_our_number", "updated_at"]
    readonly_fields = ["platform", "address", "status", "updated_at"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # a subscription needs consent: add it from the subscription page


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    list_display = ["name"]


class ImportForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV with a header row: " + ", ".join(imports.COLUMNS))


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "external_id", "channels", "tag_list", "timezone", "language", "created_at"]
    list_filter = [SubscriptionFilter, SubscriptionStatusFilter, "tags", "language"]
    search_fields = ["name", "external_id", "subscriptions__address"]
    fields = ["external_id", "name", "timezone", "language", "tags", "attributes", "consent_history"]
    readonly_fields = ["consent_history"]
    autocomplete_fields = ["tags"]
    inlines = [SubscriptionInline]
    change_list_template = "admin/campaigns/subscriber/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags", "subscriptions")

    @admin.display(description="subscriptions")
    def channels(self, obj: Subscriber) -> SafeString:
        return format_html_join(
            ", ", "{} <small>({})</small>", ((s.get_platform_display(), s.get_status_display()) for s in obj.subscriptions.all())
        )

    @admin.display(description="tags")
    def tag_list(self, obj: Subscriber) -> str:
        return ", ".join(t.name for t in obj.tags.all())

    @admin.display(description="consent history")
    def consent_history(self, obj: Subscriber) -> SafeString:
        events = ConsentEvent.objects.filter(subscription__subscriber=obj).select_related("subscription").order_by("id")
        return _table(
            ["when", "subscription", "event", "source", "wording shown", "recorded"],
            [[e.at, e.subscription, _consent_event_label(e), e.source, e.text, e.recorded_at] for e in events],
        )

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="campaigns_subscriber_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return redirect("admin:campaigns_subscriber_changelist")
        report = None
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                report = imports.subscribers_import_csv(data=form.cleaned_data["file"].read())
            except imports.ImportFileError as exc:
                form.add_error("file", exc.messages)
            else:
                level = messages.WARNING if report.errors else messages.SUCCESS
                self.message_user(
                    request,
                    f"{report.created} subscription(s) created, {report.updated} updated, "
                    f"{len(report.errors)} row(s) refused.",
                    level,
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import subscribers from CSV",
            "form": form,
            "report": report,
            "columns": imports.COLUMNS,
            "required": imports.REQUIRED_COLUMNS,
        }
        return TemplateResponse(request, "admin/campaigns/subscriber/import.html", context)


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    extra = 0
    fields = ["at", "kind", "status", "source", "text", "evidence", "recorded_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SubscriptionAddForm(forms.ModelForm):
    consent_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="The wording the person agreed to.")
    consent_at = forms.DateTimeField(initial=timezone.now, help_text="When they agreed.")
    consent_evidence = forms.CharField(required=False, help_text="Where the proof is (form, ticket, recording).")

    class Meta:
        model = Subscription
        fields = ["subscriber", "platform", "address", "saved_our_number"]

    def clean_consent_at(self):
        at = self.cleaned_data["consent_at"]
        if problem := rules.consent_time_problem(at, timezone.now()):
            raise forms.ValidationError(problem)
        return at

    def clean(self):
        data = super().clean()
        if data.get("platform") and data.get("address"):
            try:
                data["address"] = rules.normalize_address(
                    data["platform"], data["address"], settings.TACT_DEFAULT_PHONE_REGION
                )
            except rules.AddressError as exc:
                self.add_error("address", str(exc))
                return data
            taken = Subscription.objects.filter(platform=data["platform"], address=data["address"]).first()
            if taken is not None:
                self.add_error("address", f"{data['address']} already belongs to {taken.subscriber}")
            elif data.get("subscriber") and data["subscriber"].subscriptions.filter(platform=data["platform"]).exists():
                self.add_error("platform", f"{data['subscriber']} already has a {data['platform']} subscription")
        return data


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["address", "platform", "status", "saved_our_number", "subscriber", "updated_at"]
    list_filter = ["platform", "status", "saved_our_number"]
    search_fields = ["address", "subscriber__name", "subscriber__external_id"]
    list_select_related = ["subscriber"]
    autocomplete_fields = ["subscriber"]
    inlines = [ConsentEventInline]
    actions = ["opt_out"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SubscriptionAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["subscriber", "platform", "address", "saved_our_number", "consent_text", "consent_at", "consent_evidence"]
        return ["subscriber", "platform", "address", "status", "saved_our_number"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["subscriber", "platform", "address", "status"]

    def save_model(self, request, obj: Subscription, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["saved_our_number", "updated_at"])
            return
        data = form.cleaned_data
        created = services.subscription_add(
            subscriber=data["subscriber"],
            platform=data["platform"],
            address=data["address"],
            saved_our_number=data["saved_our_number"],
            consent=services.Consent(
                source=f"admin:{request.user.get_username()}",
                text=data["consent_text"],
                at=data["consent_at"],
                evidence={"note": data["consent_evidence"]} if data["consent_evidence"] else {},
            ),
        )
        obj.pk = created.pk
        obj.status = created.status

    @admin.action(description="Opt out the selected subscriptions (recorded as consent events)")
    def opt_out(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        changed = 0
        for subscription in queryset:
            event = services.subscription_opt_out(
                subscription=subscription,
                consent=services.Consent(source=f"admin:{request.user.get_username()}", text="opted out by a marketer"),
            )
            changed += event is not None
        self.message_user(request, f"{changed} subscription(s) opted out; {queryset.count() - changed} already were not opted in.")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "subscription", "kind", "status", "source", "short_text", "recorded_at"]
    list_filter = ["kind", "status", "subscription__platform", "source"]
    search_fields = ["subscription__address", "subscription__subscriber__name", "source"]
    date_hierarchy = "at"
    list_select_related = ["subscription"]
    actions = ["export_csv"]

    @admin.display(description="wording")
    def short_text(self, obj: ConsentEvent) -> str:
        return obj.text if len(obj.text) <= 60 else obj.text[:59] + "…"

    @admin.action(description="Export the selected events as CSV (proof of consent)")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ConsentEvent]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="consent-events.csv"'
        writer = csv.writer(response)
        writer.writerow(["id", "subscriber", "external_id", "platform", "address", "kind", "status", "source",
                         "text", "evidence", "at", "recorded_at"])
        for e in queryset.select_related("subscription__subscriber").order_by("id"):
            s = e.subscription
            writer.writerow([e.pk, s.subscriber, s.subscriber.external_id, s.platform, s.address, e.kind, e.status,
                             e.source, e.text, e.evidence, e.at.isoformat(), e.recorded_at.isoformat()])
        return response


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "kind", "rules", "members", "max_size"]

    def clean(self):
        data = super().clean()
        if data.get("kind") == Segment.Kind.DYNAMIC:
            try:
                data["rules"] = rules.validate_segment_rules(data.get("rules") or {})
            except ValueError as exc:
                self.add_error("rules", str(exc))
            if data.get("members"):
                self.add_error("members", "members are for static segments; dynamic ones use rules")
        elif data.get("rules"):
            self.add_error("rules", "rules are for dynamic segments; static ones list members")
        return data


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "max_size", "size_total", *[f"size_{p}" for p in PLATFORMS]]
    list_filter = ["kind"]
    search_fields = ["name"]
    autocomplete_fields = ["members"]
    readonly_fields = ["sizes_table"]
    actions = ["split_vip_groups"]

    def _sizes(self, obj: Segment) -> dict[str, int]:
        cache = getattr(self, "_size_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.segment_sizes(obj)
            self._size_cache = cache
        return cache[obj.pk]

    def changelist_view(self, request, extra_context=None):
        self._size_cache = {}
        return super().changelist_view(request, extra_context)

    @admin.display(description="people")
    def size_total(self, obj: Segment) -> int:
        return self._sizes(obj)["total"]

    @admin.display(description="on telegram")
    def size_telegram(self, obj: Segment) -> int:
        return self._sizes(obj)["telegram"]

    @admin.display(description="on whatsapp")
    def size_whatsapp(self, obj: Segment) -> int:
        return self._sizes(obj)["whatsapp"]

    @admin.display(description="on viber")
    def size_viber(self, obj: Segment) -> int:
        return self._sizes(obj)["viber"]

    @admin.display(description="size per platform")
    def sizes_table(self, obj: Segment) -> SafeString | str:
        if obj.pk is None:
            return "Shown once the segment is saved."
        self._size_cache = {}
        sizes = self._sizes(obj)
        rows = [[p, sizes[p]] for p in PLATFORMS]
        over = obj.max_size is not None and sizes["total"] > obj.max_size
        summary = format_html(
            "<p>{} people in all{}</p>", sizes["total"],
            format_html(" — <strong style='color:#c62828'>over max_size {}: campaigns will refuse it</strong>", obj.max_size) if over else "",
        )
        return format_html("{}{}<p class='help'>Opted-in subscriptions per platform.</p>", summary, _table(["platform", "reachable"], rows))

    @admin.action(description="Split into VIP groups (static segments of 10-15, nobody in two)")
    def split_vip_groups(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            try:
                split = segment_split_vip(
                    segment=segment, min_size=settings.TACT_VIP_GROUP_MIN, max_size=settings.TACT_VIP_GROUP_MAX
                )
            except services.ServiceError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                continue
            groups = (f"{len(split.groups)} VIP group(s) of {', '.join(str(n) for n in split.sizes)}"
                      if split.groups else "no VIP group")
            if not split.changed:
                if split.groups:
                    self.message_user(request, f"{segment}: already split into {groups}; nothing changed.")
                else:
                    self.message_user(request, f"{segment}: nobody in the segment; no VIP groups.", messages.WARNING)
                continue
            done = [f"{n} {what}" for n, what in ((split.created, "created"), (split.updated, "updated"),
                                                  (split.removed, "removed")) if n]
            emptied = (f" Emptied, kept because a campaign refers to them: {', '.join(split.emptied)}."
                       if split.emptied else "")
            self.message_user(request, f"{segment}: {split.people} people in {groups} ({', '.join(done) or 'emptied'})."
                              + emptied)


# --- content and campaigns ----------------------------------------------------------


def _previews_table(body: str) -> SafeString:
    rows = []
    for platform, c in services.content_checks(body).items():
        rows.append([
            platform,
            format_html("<code>{}</code>", c["shown"]),
            format_html("{} / {} {}", c["length"], c["limit"], _ok(c["fits"])),
            format_html("{} / {} {}", c["body_length"], c["body_limit"], _ok(c["body_fits"])),
        ])
    return _table(["platform", "the push notification shows", "preview characters", "message length"], rows)


class DraftForm(forms.ModelForm):
    class Meta:
        model = Draft
        fields = ["title", "body", "buttons", "whatsapp_template"]

    def clean_buttons(self):
        buttons = self.cleaned_data.get("buttons") or []
        if not isinstance(buttons, list) or not all(
            isinstance(b, dict) and set(b) == {"text", "url"} and str(b["url"]).startswith(("https://", "http://"))
            for b in buttons
        ):
            raise forms.ValidationError('buttons are a list of {"text": ..., "url": "https://..."}')
        if len(buttons) > 3:
            raise forms.ValidationError("at most 3 buttons (WhatsApp shows no more)")
        return buttons

    def clean_whatsapp_template(self):
        template = self.cleaned_data.get("whatsapp_template")
        if template in (None, "", {}):
            return None
        if not (isinstance(template, dict) and isinstance(template.get("name"), str) and template["name"]
                and isinstance(template.get("language"), str) and template["language"]
                and isinstance(template.get("parameters", []), list)):
            raise forms.ValidationError(
                'an approved template is {"name": "black_friday", "language": "ru", "parameters": ["-30%"]}'
            )
        return template


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    form = DraftForm
    list_display = ["title", "opening", "fits_everywhere", "updated_at"]
    search_fields = ["title", "body"]
    readonly_fields = ["previews"]
    fields = ["title", "body", "previews", "buttons", "whatsapp_template"]

    @admin.display(description="push preview")
    def opening(self, obj: Draft) -> str:
        return rules.first_line(obj.body)

    @admin.display(description="fits every platform", boolean=True)
    def fits_everywhere(self, obj: Draft) -> bool:
        return not services.content_problems(obj.body, PLATFORMS, buttons=obj.buttons)

    @admin.display(description="what each platform shows")
    def previews(self, obj: Draft) -> SafeString | str:
        if not obj.body:
            return "Write the body and save to see the previews."
        problems = services.content_problems(obj.body, PLATFORMS, buttons=obj.buttons)
        errors = format_html_join("", "<li style='color:#c62828'>{}</li>", ((p,) for p in problems))
        return format_html("{}<ul>{}</ul>", _previews_table(obj.body), errors)


class CampaignForm(forms.ModelForm):
    platforms = forms.MultipleChoiceField(choices=PlatformChoices.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Campaign
        fields = ["name", "draft", "segment", "platforms", "send_at", "local_time", "expires_at"]

    def clean_platforms(self):
        return [p for p in PLATFORMS if p in self.cleaned_data["platforms"]]

    def clean(self):
        data = super().clean()
        if data.get("send_at") and data.get("expires_at") and data["expires_at"] <= data["send_at"]:
            self.add_error("expires_at", "expires_at must be after send_at")
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "status", "send_at", "platform_list", "segment", "draft", "progress", "reception"]
    list_filter = ["status", "local_time", "send_at"]
    search_fields = ["name", "draft__title", "segment__name"]
    list_select_related = ["draft", "segment"]
    autocomplete_fields = ["draft", "segment"]
    date_hierarchy = "send_at"
    actions = ["schedule", "pause", "resume", "cancel"]
    readonly_fields = ["status", "problem", "problem_since", "stats_table", "forecast_link", "channels_in_use",
                       "frozen_content", "scheduled_at", "started_at", "finished_at", "cancelled_at"]

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
            "title": f"Forecast: {campaign}",
            "forecast": delivery.campaign_forecast(campaign=campaign, now=timezone.now()),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/forecast.html", context)

    @admin.display(description="forecast")
    def forecast_link(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "Save the campaign to see its forecast."
        return format_html("<a href='{}'>Who will receive it, who is held back and why, how long it takes</a>",
                           reverse("admin:campaigns_campaign_forecast", args=[obj.pk]))

    @admin.display(description="channels")
    def channels_in_use(self, obj: Campaign) -> SafeString:
        rows = []
        for platform in obj.platforms or PLATFORMS:
            sandbox = channel_for(platform).sandbox
            rows.append([platform, "SANDBOX: no credentials, messages go to the outbox" if sandbox else "live"])
        return _table(["platform", "sends through"], rows)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return [*CampaignForm.Meta.fields, *self.readonly_fields]
        return self.readonly_fields

    @admin.display(description="platforms")
    def platform_list(self, obj: Campaign) -> str:
        return ", ".join(obj.platforms)

    @staticmethod
    def _stats(obj: Campaign) -> dict[str, int]:
        if not hasattr(obj, "_stats"):
            obj._stats = selectors.campaign_stats(obj)  # one count per row, not one per column
        return obj._stats

    @admin.display(description="planned / sent / failed / held / skipped / uncertain")
    def progress(self, obj: Campaign) -> str:
        s = self._stats(obj)
        return f"{s['planned']} / {s['sent']} / {s['failed']} / {s['held']} / {s['skipped']} / {s['uncertain']}"

    @admin.display(description="delivered / read / opted out within 48 h")
    def reception(self, obj: Campaign) -> str:
        s = self._stats(obj)
        return f"{s['delivered']} / {s['read']} / {s['opted_out_48h']}"

    @admin.display(description="progress")
    def stats_table(self, obj: Campaign) -> SafeString:
        stats = self._stats(obj)
        url = reverse("admin:campaigns_delivery_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html("{}<p><a href='{}'>Open the delivery ledger</a></p>",
                           _table(list(stats), [list(stats.values())]), url)

    @admin.display(description="content (frozen when scheduled)")
    def frozen_content(self, obj: Campaign) -> SafeString | str:
        if obj.status == Campaign.Status.DRAFT:
            return "Taken from the draft when the campaign is scheduled."
        return format_html("<strong>{}</strong><pre style='white-space:pre-wrap'>{}</pre>{}",
                           obj.content_title, obj.content_body, _previews_table(obj.content_body))

    @admin.action(description="Schedule the selected campaigns")
    def schedule(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                services.campaign_schedule(campaign=campaign)
            except services.ServiceError as exc:
                self.message_user(request, f"“{campaign}” not scheduled: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"“{campaign}” scheduled for {campaign.send_at:%Y-%m-%d %H:%M} UTC.")

    @admin.action(description="Pause the selected campaigns")
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_pause, "paused")

    @admin.action(description="Resume the selected campaigns")
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_resume, "resumed")

    def _transition(self, request, queryset, service, done: str) -> None:
        for campaign in queryset:
            try:
                service(campaign=campaign)
            except services.ServiceError as exc:
                self.message_user(request, f"“{campaign}”: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"“{campaign}” {done}.")

    @admin.action(description="Cancel the selected campaigns")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                services.campaign_cancel(campaign=campaign)
            except services.ServiceError as exc:
                self.message_user(request, f"“{campaign}” not cancelled: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"“{campaign}” cancelled.")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "subscriber", "platform", "list_number", "status", "reason", "send_after", "sent_at",
                    "delivered_at", "read_at"]
    list_filter = ["status", "platform", "campaign"]
    search_fields = ["subscriber__name", "subscription__address", "reason"]
    list_select_related = ["campaign", "subscriber"]
    show_full_result_count = False


@admin.register(FrequencyPolicy)
class FrequencyPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        policy = FrequencyPolicy.current()
        return redirect("admin:campaigns_frequencypolicy_change", policy.pk)


@admin.register(SendList)
class SendListAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "number", "platform", "size", "state", "next_due", "heartbeat_at"]
    list_filter = ["platform", "state", "campaign"]
    list_select_related = ["campaign"]
