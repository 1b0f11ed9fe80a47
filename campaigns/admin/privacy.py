"""Privacy in the admin: masked addresses for users without campaigns.view_address, the
erasure of people behind a confirmation page, and the export of what is held about one."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Model, QuerySet, Value
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldBooleanWidget

from .. import addresses
from ..models import ConsentEvent, Delivery, Subscriber, Subscription
from ..services import ServiceError, privacy


class AddressMasking(ModelAdmin):
    """Addresses masked on every page of this model for users who may not see them whole.

    Each object of the list and the detail page carries `addresses_masked` (an annotation)
    for the display methods; the detail page's object has its addresses masked in memory
    (`hide_addresses`), so that its title, breadcrumbs and read-only fields show no more.
    Searching by address is only for those who may see addresses."""

    def addresses_masked(self, request: HttpRequest) -> bool:
        return not addresses.sees_addresses(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        masked = Value(self.addresses_masked(request), output_field=BooleanField())
        return super().get_queryset(request).annotate(addresses_masked=masked)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        fields = list(super().get_search_fields(request))
        return [f for f in fields if "address" not in f] if self.addresses_masked(request) else fields

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and self.addresses_masked(request):
            self.hide_addresses(obj)
        return obj

    def hide_addresses(self, obj: Model) -> None:
        """Mask the addresses `obj` shows, in memory (the page must never save it)."""

    def action_checkbox(self, obj: Model) -> SafeString:
        """The row's checkbox, labelled by id for them: the object's str() may hold an address."""
        if not masked_on(obj):
            return super().action_checkbox(obj)
        # Django's own wording (and so its translations) for the unmasked checkboxes.
        label = gettext("Select this object for an action - {}").format(f"{obj._meta.verbose_name} #{obj.pk}")
        checkbox = UnfoldBooleanWidget({"class": "action-select", "aria-label": label}, lambda value: False)
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(obj.pk))


def masked_on(obj: Model) -> bool:
    """Whether the page showing `obj` masks addresses (objects not loaded by a masking
    admin are masked: fail closed)."""
    return getattr(obj, "addresses_masked", True)


def subscription_label(subscription: Subscription, *, masked: bool) -> str:
    return f"{subscription.get_platform_display()} {addresses.shown_address(subscription, masked=masked)}"


# --- erasure -------------------------------------------------------------------------


def _what_goes(subscriber: Subscriber, *, masked: bool) -> dict:
    subscriptions = list(subscriber.subscriptions.order_by("id"))
    return {
        "subscriber": subscriber,
        "subscriptions": [subscription_label(s, masked=masked) for s in subscriptions],
        "tags": subscriber.tags.count(),
        "static_segments": subscriber.static_segments.count(),
        "consent_events": ConsentEvent.objects.filter(subscription__in=subscriptions).count(),
        "deliveries": Delivery.objects.filter(subscriber=subscriber).count(),
    }


def erase_selected(model_admin: admin.ModelAdmin, request: HttpRequest,
                   queryset: QuerySet[Subscriber]) -> TemplateResponse | None:
    """The admin action: a confirmation page listing who and what goes; erased on "confirm"."""
    if request.POST.get("confirm") == "yes":
        erased = 0
        for subscriber in queryset:
            try:
                privacy.subscriber_erase(subscriber=subscriber, actor=request.user)
            except ServiceError as exc:
                model_admin.message_user(request, gettext("subscriber #%(id)s not erased: %(reason)s")
                                         % {"id": subscriber.pk, "reason": exc}, messages.ERROR)
            else:
                erased += 1
        if erased:
            model_admin.message_user(request, ngettext(
                "%(n)s people erased; their pseudonymous consent trail is kept.",
                "%(n)s people erased; their pseudonymous consent trail is kept.", erased) % {"n": erased},
                messages.SUCCESS)
        return None
    masked = not addresses.sees_addresses(request.user)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": gettext("Erase the selected people?"),
        "people": [_what_goes(s, masked=masked) for s in queryset],
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/campaigns/subscriber/erase_confirmation.html", context)


def export_response(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """Everything held about one person, as a JSON download (right of access)."""
    if not request.user.has_perm("campaigns.export_subscriber"):
        raise PermissionDenied
    subscriber = model_admin.get_object(request, str(pk))
    if subscriber is None:
        raise Http404(gettext("no such subscriber"))
    data = privacy.subscriber_export(subscriber=subscriber, actor=request.user,
                                     masked=not addresses.sees_addresses(request.user))
    response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="subscriber-{subscriber.pk}.json"'
    return response
