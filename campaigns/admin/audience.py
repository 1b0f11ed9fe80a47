"""The audience in the admin: subscribers, subscriptions, consent proof, tags."""

from __future__ import annotations

import csv
import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Exists, OuterRef, QuerySet, Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext
from unfold.admin import ModelAdmin, TabularInline

from .. import addresses, fatigue, rules, selectors, services
from ..account_filters import of_account
from ..models import (
    ConsentEvent,
    PlatformChoices,
    Subscriber,
    Subscription,
    Tag,
)
from ..services import import_jobs, imports
from .common import ReadOnlyAdmin, _table
from .privacy import (
    AddressMasking,
    erase_selected,
    export_response,
    masked_on,
    subscription_label,
)
from .tester_sends import TesterFilter


class SubscriptionFilter(admin.SimpleListFilter):
    """Platform and status of the same subscription (not any platform + any status)."""

    parameter_name = "platform"
    title = gettext_lazy("platform")

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
    title = gettext_lazy("subscription status")

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
        label = gettext("opted in")
    elif event.kind == ConsentEvent.Kind.SUPPRESSION:
        label = gettext("%(status)s (delivery bounce; consent not withdrawn)") % {"status": event.get_status_display()}
    else:
        label = event.get_status_display()
    return gettext("%(event)s, by the person") % {"event": label} if event.by_person else label


class SubscriptionInline(TabularInline):
    model = Subscription
    extra = 0
    fields = ["platform", "shown_address", "status", "saved_our_number", "updated_at"]
    readonly_fields = ["platform", "shown_address", "status", "updated_at"]
    can_delete = False
    show_change_link = True
    template = "admin/campaigns/edit_inline/tabular_unlabelled.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # a subscription needs consent: add it from the subscription page

    def get_queryset(self, request):
        masked = Value(not addresses.sees_addresses(request.user), output_field=BooleanField())
        return super().get_queryset(request).annotate(addresses_masked=masked)

    @admin.display(description=gettext_lazy("address"))
    def shown_address(self, obj: Subscription) -> str:
        return addresses.shown_address(obj, masked=masked_on(obj))


@admin.register(Tag)
class TagAdmin(ModelAdmin):
    search_fields = ["name"]
    list_display = ["name"]


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (gettext("UTF-8 CSV with a header row: %(columns)s")
                                         % {"columns": ", ".join(imports.COLUMNS)})


@admin.register(Subscriber)
class SubscriberAdmin(AddressMasking, ModelAdmin):
    list_display = ["__str__", "external_id", "channels", "tag_list", "timezone", "language", "tester", "created_at"]
    list_filter = [SubscriptionFilter, SubscriptionStatusFilter, "tags", "language", TesterFilter]
    search_fields = ["name", "external_id", "subscriptions__address"]
    fields = ["external_id", "name", "timezone", "language", "tags", "attributes", "tester", "unanswered_state",
              "consent_history"]
    readonly_fields = ["consent_history", "unanswered_state"]
    autocomplete_fields = ["tags"]
    inlines = [SubscriptionInline]
    change_list_template = "admin/campaigns/subscriber/change_list.html"
    change_form_template = "admin/campaigns/subscriber/change_form.html"
    actions = ["erase"]

    def get_queryset(self, request):
        # Erased people are gone from the admin; their pseudonymous consent events remain.
        return super().get_queryset(request).filter(erased_at__isnull=True).prefetch_related("tags", "subscriptions")

    def get_search_results(self, request, queryset, search_term):
        """A phone in any format, a name in any case (selectors.subscribers_search); addresses
        only for users who may see them."""
        by_address = not self.addresses_masked(request)
        return selectors.subscribers_search(queryset, search_term, by_address=by_address), False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.erase_subscriber")

    @admin.action(description=gettext_lazy("Erase the selected people"), permissions=["erase"])
    def erase(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> TemplateResponse | None:
        return erase_selected(self, request, queryset)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.user.has_perm("campaigns.export_subscriber") and str(object_id).isdigit():
            extra_context = {**(extra_context or {}),
                             "export_url": reverse("admin:campaigns_subscriber_export", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context)

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return export_response(self, request, pk)

    @admin.display(description=gettext_lazy("subscriptions"))
    def channels(self, obj: Subscriber) -> SafeString:
        return format_html_join(
            ", ", "{} <small>({})</small>", ((s.get_platform_display(), s.get_status_display()) for s in obj.subscriptions.all())
        )

    @admin.display(description=gettext_lazy("unanswered in a row"))
    def unanswered_state(self, obj: Subscriber) -> str:
        return fatigue.state_text(obj.unanswered)

    @admin.display(description=gettext_lazy("tags"))
    def tag_list(self, obj: Subscriber) -> str:
        return ", ".join(t.name for t in obj.tags.all())

    @admin.display(description=gettext_lazy("consent history"))
    def consent_history(self, obj: Subscriber) -> SafeString:
        events = ConsentEvent.objects.filter(subscription__subscriber=obj).select_related("subscription").order_by("id")
        masked = masked_on(obj)
        return _table(
            [gettext("when"), gettext("subscription"), gettext("event"), gettext("source"), gettext("wording shown"),
             gettext("recorded")],
            [[e.at, subscription_label(e.subscription, masked=masked), _consent_event_label(e), e.source, e.text,
              e.recorded_at] for e in events],
        )

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="campaigns_subscriber_import"),
            path("<int:pk>/export/", self.admin_site.admin_view(self.export_view), name="campaigns_subscriber_export"),
            path("import/sample.csv", self.admin_site.admin_view(self.import_sample_view),
                 name="campaigns_subscriber_import_sample"),
            *super().get_urls(),
        ]

    def _check_import_permission(self, request: HttpRequest) -> None:
        if not (self.has_add_permission(request) and request.user.has_perm("campaigns.import_subscribers")):
            raise PermissionDenied

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Start a background import and follow it on its progress page."""
        self._check_import_permission(request)
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = import_jobs.import_job_create(
                    data=import_jobs.import_upload_read(upload=upload), file_name=upload.name or "",
                    actor=request.user,
                )
            except services.ServiceError as exc:
                form.add_error("file", exc.messages)
            else:
                return HttpResponseRedirect(reverse("admin:campaigns_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import subscribers from CSV"),
            "form": form,
            "columns": imports.COLUMNS,
            "required": imports.REQUIRED_COLUMNS,
            "max_bytes": settings.TACT_IMPORT_MAX_BYTES,
            "max_rows": settings.TACT_IMPORT_MAX_ROWS,
            "recent": import_jobs.import_jobs_listed().filter(created_by=request.user)[:5],
        }
        return TemplateResponse(request, "admin/campaigns/subscriber/import.html", context)

    def import_sample_view(self, request: HttpRequest) -> HttpResponse:
        """A CSV with the columns and one valid row per platform."""
        self._check_import_permission(request)
        response = HttpResponse(imports.SAMPLE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="tact-import-sample.csv"'
        return response


class ConsentEventInline(TabularInline):
    model = ConsentEvent
    extra = 0
    fields = ["at", "kind", "status", "source", "text", "shown_evidence", "recorded_at"]
    readonly_fields = fields
    can_delete = False
    template = "admin/campaigns/edit_inline/tabular_unlabelled.html"

    def get_queryset(self, request):
        masked = Value(not addresses.sees_addresses(request.user), output_field=BooleanField())
        return super().get_queryset(request).select_related("subscription").annotate(addresses_masked=masked)

    @admin.display(description=gettext_lazy("evidence"))
    def shown_evidence(self, obj: ConsentEvent) -> str:
        return json.dumps(addresses.shown_evidence(obj.evidence, obj.subscription, masked=masked_on(obj)),
                          ensure_ascii=False)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SubscriptionAddForm(forms.ModelForm):
    consent_text = forms.CharField(label=gettext_lazy("Consent text"), widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text=gettext_lazy("The wording the person agreed to."))
    consent_at = forms.DateTimeField(label=gettext_lazy("Consent at"), initial=timezone.now,
                                     help_text=gettext_lazy("When they agreed."))
    consent_evidence = forms.CharField(label=gettext_lazy("Consent evidence"), required=False,
                                       help_text=gettext_lazy("Where the proof is (form, ticket, recording)."))

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
                    data["platform"], data["address"], selectors.default_phone_region()
                )
            except rules.AddressError as exc:
                self.add_error("address", str(exc))
                return data
            # the admin adds the default account's subscriptions (a bot of its own: the person /starts it)
            taken = Subscription.objects.filter(of_account(None), platform=data["platform"],
                                                address=data["address"]).first()
            if taken is not None:
                self.add_error("address", gettext("%(address)s already belongs to %(subscriber)s")
                               % {"address": data["address"], "subscriber": taken.subscriber})
            elif data.get("subscriber") and data["subscriber"].subscriptions.filter(
                    of_account(None), platform=data["platform"]).exists():
                self.add_error("platform", gettext("%(subscriber)s already has a %(platform)s subscription")
                               % {"subscriber": data["subscriber"], "platform": data["platform"]})
        return data


@admin.register(Subscription)
class SubscriptionAdmin(AddressMasking, ModelAdmin):
    list_display = ["shown_address", "platform", "status", "saved_our_number", "subscriber", "updated_at"]
    list_filter = ["platform", "status", "saved_our_number"]
    search_fields = ["address", "subscriber__name", "subscriber__external_id"]
    list_select_related = ["subscriber"]
    autocomplete_fields = ["subscriber"]
    inlines = [ConsentEventInline]
    actions = ["opt_out"]

    def has_opt_out_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.opt_out_subscription")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(subscriber__erased_at__isnull=True)

    def get_search_results(self, request, queryset, search_term):
        """As SubscriberAdmin's: the address in any format (for users who may see it), the person's name or id."""
        by_address = not self.addresses_masked(request)
        return selectors.subscriptions_search(queryset, search_term, by_address=by_address), False

    def hide_addresses(self, obj: Subscription) -> None:
        addresses.hide_address(obj)

    @admin.display(description=gettext_lazy("address"), ordering="address")
    def shown_address(self, obj: Subscription) -> str:
        return addresses.shown_address(obj, masked=masked_on(obj))

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
        if change:  # saved from a fresh copy: `obj` may show a masked address
            fresh = Subscription.objects.get(pk=obj.pk)
            fresh.saved_our_number = obj.saved_our_number
            fresh.save(update_fields=["saved_our_number", "updated_at"])
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

    @admin.action(description=gettext_lazy("Opt out the selected subscriptions (recorded as consent events)"),
                  permissions=["opt_out"])
    def opt_out(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        changed = 0
        for subscription in queryset:
            event = services.subscription_opt_out(
                subscription=subscription,
                consent=services.Consent(source=f"admin:{request.user.get_username()}", text="opted out by a marketer"),
                actor=request.user,
            )
            changed += event is not None
        self.message_user(request, ngettext("%(n)s subscription(s) opted out; %(already)s already were not opted in.",
                                            "%(n)s subscription(s) opted out; %(already)s already were not opted in.",
                                            changed) % {"n": changed, "already": queryset.count() - changed})


@admin.register(ConsentEvent)
class ConsentEventAdmin(AddressMasking, ReadOnlyAdmin):
    list_display = ["at", "subscription_shown", "kind", "status", "source", "short_text", "recorded_at"]
    list_filter = ["kind", "status", "subscription__platform", "source"]
    search_fields = ["subscription__address", "subscription__subscriber__name", "source"]
    date_hierarchy = "at"
    list_select_related = ["subscription"]
    actions = ["export_csv"]

    @admin.display(description=gettext_lazy("wording"))
    def short_text(self, obj: ConsentEvent) -> str:
        return obj.text if len(obj.text) <= 60 else obj.text[:59] + "…"

    @admin.display(description=gettext_lazy("subscription"), ordering="subscription")
    def subscription_shown(self, obj: ConsentEvent) -> str:
        return subscription_label(obj.subscription, masked=masked_on(obj))

    def hide_addresses(self, obj: ConsentEvent) -> None:
        obj.evidence = addresses.shown_evidence(obj.evidence, obj.subscription, masked=True)
        addresses.hide_address(obj.subscription)

    @admin.action(description=gettext_lazy("Export the selected events as CSV (proof of consent)"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ConsentEvent]) -> HttpResponse:
        """UTF-8 with a BOM (Excel reads it right), evidence as JSON, no cell a spreadsheet
        would run as a formula, addresses masked for users who may not see them."""
        masked = self.addresses_masked(request)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="consent-events.csv"'
        response.write("\ufeff")
        writer = csv.writer(response)
        writer.writerow(["id", "subscriber", "external_id", "platform", "address", "kind", "status", "source",
                         "text", "evidence", "by_person", "at", "recorded_at"])
        for e in queryset.select_related("subscription__subscriber").order_by("id"):
            s = e.subscription
            evidence = json.dumps(addresses.shown_evidence(e.evidence, s, masked=masked), ensure_ascii=False)
            row = [e.pk, str(s.subscriber), s.subscriber.external_id, s.platform,
                   addresses.shown_address(s, masked=masked), e.kind, e.status, e.source, e.text, evidence,
                   e.by_person, e.at.isoformat(), e.recorded_at.isoformat()]
            writer.writerow([rules.spreadsheet_safe(cell) for cell in row])
        return response

