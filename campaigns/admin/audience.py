"""The audience in the admin: subscribers, subscriptions, consent proof, tags."""

from __future__ import annotations

import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from .. import rules, services
from ..models import (
    ConsentEvent,
    PlatformChoices,
    Subscriber,
    Subscription,
    Tag,
)
from ..services import imports
from .common import ReadOnlyAdmin, _table


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
        if not (self.has_add_permission(request) and request.user.has_perm("campaigns.import_subscribers")):
            raise PermissionDenied
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

    def has_opt_out_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.opt_out_subscription")

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

    @admin.action(description="Opt out the selected subscriptions (recorded as consent events)", permissions=["opt_out"])
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

    @admin.action(description="Export the selected events as CSV (proof of consent)", permissions=["view"])
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

