"""Test sends in the admin: the "Send test" button of the draft and campaign pages, and the
read-only list of every test sent (who, on what platform, with what outcome, when)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from unfold.decorators import action
from unfold.enums import ActionVariant
from unfold.forms import BaseDialogForm

from .. import services
from ..delivery.tester_sends import testers_send
from ..models import Campaign, Draft, TestSend
from .common import ReadOnlyAdmin

SEND_TEST = "campaigns.add_testsend"
DIALOG = {
    "title": gettext_lazy("Send a test to the testers now?"),
    "description": gettext_lazy(
        "It goes at once to every tester's opted-in subscription (for a campaign: on its platforms), "
        "outside frequency caps and quiet hours; it is not counted in any campaign's results."),
    "form_class": None,
    "form_submit_text": gettext_lazy("Send test"),
}


def send_test_and_report(modeladmin: admin.ModelAdmin, request: HttpRequest, *, draft: Draft | None = None,
                         campaign: Campaign | None = None) -> None:
    """Send the test and say each outcome as a message on the page."""
    try:
        made = testers_send(draft=draft, campaign=campaign, actor=request.user)
    except services.ServiceError as exc:
        modeladmin.message_user(request, gettext("No test sent: %(problems)s") % {"problems": "; ".join(exc.messages)},
                                messages.ERROR)
        return
    for row in made:
        values = {"person": row.subscription.subscriber, "platform": row.get_platform_display(), "reason": row.reason}
        if row.status == TestSend.Status.SENT:
            modeladmin.message_user(request, gettext("Test sent to %(person)s on %(platform)s.") % values,
                                    messages.SUCCESS)
        elif row.status == TestSend.Status.UNCERTAIN:
            modeladmin.message_user(request, gettext("Test to %(person)s on %(platform)s may or may not have "
                                                     "arrived: %(reason)s") % values, messages.WARNING)
        else:
            modeladmin.message_user(request, gettext("Test to %(person)s on %(platform)s failed: %(reason)s")
                                    % values, messages.ERROR)


def back_to(request: HttpRequest, url: str) -> HttpResponse:
    """To `url`: by HX-Redirect for the dialog (htmx), by a plain redirect otherwise."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)


class DraftTestSendMixin:
    """The draft page's "Send test" button."""

    actions_detail = ["send_test_button"]

    def has_send_test_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm(SEND_TEST)

    @action(description=gettext_lazy("Send test"), icon="send", variant=ActionVariant.DEFAULT, url_path="send-test",
            permissions=["send_test"], dialog=DIALOG)
    def send_test_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        draft = self.get_object(request, object_id)
        if draft is None:
            return back_to(request, reverse("admin:campaigns_draft_changelist"))
        send_test_and_report(self, request, draft=draft)
        return back_to(request, reverse("admin:campaigns_draft_change", args=[draft.pk]))


@admin.register(TestSend)
class TestSendAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "person", "platform", "status", "reason", "draft", "campaign", "requested_by"]
    list_filter = ["status", "platform"]
    search_fields = ["subscription__subscriber__name", "draft__title", "campaign__name"]
    list_select_related = ["subscription__subscriber", "draft", "campaign", "requested_by"]
    # Not the subscription: its name shows the full address, which not everyone may see.
    fields = ["created_at", "person", "platform", "status", "reason", "platform_message_id", "text", "draft",
              "campaign", "requested_by"]
    show_full_result_count = False

    __test__ = False  # not a pytest test class

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description=gettext_lazy("tester"), ordering="subscription__subscriber__name")
    def person(self, obj: TestSend) -> str:
        return str(obj.subscription.subscriber)


class TesterFilter(admin.SimpleListFilter):
    """The subscriber list's "testers" filter."""

    parameter_name = "tester"
    title = gettext_lazy("testers")

    def lookups(self, request, model_admin):
        return [("yes", gettext_lazy("testers only")), ("no", gettext_lazy("everyone else"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(tester=self.value() == "yes")
        return queryset
