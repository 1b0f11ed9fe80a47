"""The campaign page as the control centre: transition buttons, progress, per-platform counts,
the forecast inline and who was left out; a campaign past its draft is shown, not edited."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminTextareaWidget

from .. import delivery, health, selectors, services
from ..models import Campaign, Delivery, PlatformChoices
from . import spread_window
from .charts import campaign_sends_html
from .common import _table
from .follow_ups import OFFERED as FOLLOW_UP_OFFERED
from .link_clicks import link_clicks_table
from .tester_sends import DIALOG as SEND_TEST_DIALOG
from .tester_sends import send_test_and_report

S = Campaign.Status
# Each button: the permission it needs, and the statuses in which it is offered.
BUTTONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "schedule": ("campaigns.schedule_campaign", (S.DRAFT,)),
    "approve": ("campaigns.approve_campaign", (S.AWAITING_APPROVAL,)),
    "reject": ("campaigns.approve_campaign", (S.AWAITING_APPROVAL,)),
    "pause": ("campaigns.pause_campaign", (S.SCHEDULED, S.RUNNING)),
    "resume": ("campaigns.pause_campaign", (S.PAUSED,)),
    "cancel": ("campaigns.cancel_campaign", tuple(services.CANCELLABLE)),
    "duplicate": ("campaigns.add_campaign", tuple(S.values)),
    "send_test": ("campaigns.add_testsend", tuple(S.values)),
    "follow_up": ("campaigns.schedule_campaign", FOLLOW_UP_OFFERED),  # or add_campaign: admin/follow_ups.py
    # A/B test and VIP offers (admin/variants.py also hides them for other kinds)
    "pick_winner": ("campaigns.schedule_campaign", (S.RUNNING, S.PAUSED)),
    "vip_groups": ("campaigns.change_campaign", (S.DRAFT,)),
}
STAT_LABELS = {
    "planned": gettext_lazy("planned"),
    "sent": gettext_lazy("sent"),
    "delivered": gettext_lazy("delivered"),
    "read": gettext_lazy("read"),
    "clicked": gettext_lazy("clicked"),
    "failed": gettext_lazy("failed"),
    "held": gettext_lazy("held back (frequency cap, quiet hours)"),
    "skipped": gettext_lazy("skipped (opted out, cancelled or expired)"),
    "uncertain": gettext_lazy("uncertain (never resent silently)"),
    "opted_out_48h": gettext_lazy("opted out within 48 h"),
}
# Rows that will not move any more: the progress bar's numerator.
FINISHED = ("sent", "failed", "skipped", "uncertain")
LEFT_OUT = (Delivery.Status.SKIPPED, Delivery.Status.HELD, Delivery.Status.FAILED)
FORECAST_STATUSES = (S.DRAFT, S.AWAITING_APPROVAL, S.SCHEDULED, S.PAUSED)


def platform_names(platforms: list[str]) -> str:
    labels = dict(PlatformChoices.choices)
    return ", ".join(str(labels.get(p, p)) for p in platforms)


def stat_label(key: str) -> str:
    return str(STAT_LABELS.get(key, key.replace("_", " ")))


def progress(stats: dict[str, int]) -> tuple[int, int]:
    """(rows finished, rows planned)."""
    return sum(stats.get(k, 0) for k in FINISHED), stats.get("planned", 0)


def progress_bar(stats: dict[str, int], *, width: str = "100%") -> SafeString:
    """A bar and "done of total" in one cell; the numbers behind it in the tooltip."""
    done, total = progress(stats)
    percent = round(100 * done / total) if total else 0
    tooltip = ", ".join(f"{stat_label(k)}: {v}" for k, v in stats.items())
    return format_html(
        '<div title="{}" style="min-width:8rem;width:{}">'
        '<div style="background:#e5e7eb;border-radius:4px;height:6px;overflow:hidden">'
        '<div style="background:#7c3aed;height:6px;width:{}%"></div></div>'
        '<small style="white-space:nowrap">{}</small></div>',
        tooltip, width, percent,
        gettext("%(done)s of %(total)s · %(percent)s%%") % {"done": done, "total": total, "percent": percent},
    )


class RejectDialogForm(BaseDialogForm):
    reason = forms.CharField(max_length=2000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
                             label=gettext_lazy("Reason"),
                             help_text=gettext_lazy("What to change before submitting again."))


def _dialog(title: str, description: str, submit: str, form_class: type[BaseDialogForm] | None = None) -> dict:
    return {"title": title, "description": description, "form_class": form_class, "form_submit_text": submit}


class CampaignControls(ModelAdmin):
    """Buttons on the change page (POST only: each opens a confirmation dialog) and the page's read-only parts."""

    actions_detail = ["schedule_button", "approve_button", "reject_button", "pause_button", "resume_button",
                      "cancel_button", "duplicate_button", "send_test_button", "follow_up_button",
                      "pick_winner_button", "vip_groups_button"]
    # A running campaign that cannot move says why above its form (`tact_held_up`, campaigns/health.py).
    change_form_outer_before_template = "admin/campaigns/campaign/held_up.html"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        campaign = Campaign.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        held_up = health.campaign_held_up(campaign, now=timezone.now()) if campaign is not None else []
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "tact_held_up": held_up})

    # --- which buttons a page shows ----------------------------------------------------

    def get_actions_detail(self, request: HttpRequest, object_id: int | str):
        """unfold's buttons the user's permissions allow, less those the campaign's status does not."""
        allowed = super().get_actions_detail(request, object_id)
        status = Campaign.objects.filter(pk=object_id).values_list("status", flat=True).first() \
            if str(object_id).isdigit() else None
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        return [a for a in allowed
                if status in BUTTONS[a.action_name.removeprefix(prefix).removesuffix("_button")][1]]

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        """Only a draft is edited; later the page shows what was frozen."""
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False  # its ledger is the record of what was sent: cancel instead
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request: HttpRequest):
        """The list's "Delete selected" refuses, like the page and the API, any campaign past draft."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = [gettext("%(campaign)s (%(status)s: cancel it instead; its ledger is the record of what was sent)")
                % {"campaign": c, "status": c.get_status_display()}
                for c in objs if c.status != Campaign.Status.DRAFT]
        if kept and super().has_delete_permission(request):
            # Not a missing permission (what Django would say): the status stands in the way.
            perms_needed = perms_needed - {str(Campaign._meta.verbose_name)}
        return deleted, counts, perms_needed, [*protected, *kept]

    # --- the buttons -------------------------------------------------------------------

    def _press(self, request: HttpRequest, object_id: str, service: Callable[..., Campaign], done: str | None,
               **kwargs: str) -> HttpResponse:
        """Runs `service`; says `done` (a text with %(campaign)s), unless None: then the service said it."""
        campaign = self.get_object(request, object_id)
        if campaign is None:
            return self._back(request, reverse("admin:campaigns_campaign_changelist"))
        try:
            campaign = service(campaign=campaign, actor=request.user, **kwargs)
        except services.ServiceError as exc:
            self.message_user(request, gettext("“%(campaign)s”: %(problems)s")
                              % {"campaign": campaign, "problems": "; ".join(exc.messages)}, messages.ERROR)
        else:
            if done is not None:
                self.message_user(request, done % {"campaign": campaign}, messages.SUCCESS)
        return self._back(request, reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    @staticmethod
    def _back(request: HttpRequest, url: str) -> HttpResponse:
        """To `url`: by HX-Redirect for the dialog (htmx), by a plain redirect otherwise."""
        if request.headers.get("HX-Request"):
            return HttpResponse(headers={"HX-Redirect": url})
        return redirect(url)

    @action(description=gettext_lazy("Schedule"), icon="event_available", variant=ActionVariant.PRIMARY,
            url_path="schedule", permissions=["schedule"],
            dialog=_dialog(gettext_lazy("Schedule this campaign?"),
                           gettext_lazy("Its content is frozen now; with approval required, another user "
                                        "approves it first."), gettext_lazy("Schedule")))
    def schedule_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        def scheduled(*, campaign: Campaign, actor) -> Campaign:
            campaign = services.campaign_schedule(campaign=campaign, actor=actor)
            if campaign.status == Campaign.Status.AWAITING_APPROVAL:
                self.message_user(request, gettext("“%(campaign)s” awaits approval by another user.")
                                  % {"campaign": campaign}, messages.INFO)
            else:
                self.message_user(request, gettext("“%(campaign)s” is scheduled.") % {"campaign": campaign},
                                  messages.SUCCESS)
            return campaign
        return self._press(request, object_id, scheduled, None)

    @action(description=gettext_lazy("Approve"), icon="verified", variant=ActionVariant.SUCCESS,
            url_path="approve", permissions=["approve"],
            dialog=_dialog(gettext_lazy("Approve this campaign?"), gettext_lazy("It is scheduled for its send time."),
                           gettext_lazy("Approve")))
    def approve_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        return self._press(request, object_id, services.campaign_approve,
                           gettext("“%(campaign)s” approved and scheduled."))

    @action(description=gettext_lazy("Reject"), icon="undo", variant=ActionVariant.WARNING, url_path="reject",
            permissions=["approve"],
            dialog=_dialog(gettext_lazy("Reject this campaign?"),
                           gettext_lazy("It goes back to draft; the reason is shown on its page."),
                           gettext_lazy("Reject"), RejectDialogForm))
    def reject_button(self, request: HttpRequest, form: RejectDialogForm, object_id: str) -> HttpResponse:
        return self._press(request, object_id, services.campaign_reject,
                           gettext("“%(campaign)s” rejected: back to draft."),
                           reason=form.cleaned_data["reason"])

    @action(description=gettext_lazy("Pause"), icon="pause", variant=ActionVariant.WARNING, url_path="pause",
            permissions=["pause"],
            dialog=_dialog(gettext_lazy("Pause this campaign?"),
                           gettext_lazy("Sending stops within seconds; nothing is lost or resent."),
                           gettext_lazy("Pause")))
    def pause_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        return self._press(request, object_id, services.campaign_pause, gettext("“%(campaign)s” paused."))

    @action(description=gettext_lazy("Resume"), icon="play_arrow", variant=ActionVariant.PRIMARY,
            url_path="resume", permissions=["pause"],
            dialog=_dialog(gettext_lazy("Resume this campaign?"), gettext_lazy("It continues where it stopped."),
                           gettext_lazy("Resume")))
    def resume_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        return self._press(request, object_id, services.campaign_resume, gettext("“%(campaign)s” resumed."))

    @action(description=gettext_lazy("Cancel"), icon="cancel", variant=ActionVariant.DANGER, url_path="cancel",
            permissions=["cancel"],
            dialog=_dialog(gettext_lazy("Cancel this campaign for good?"),
                           gettext_lazy("Nothing still waiting is sent; this cannot be undone (duplicate it to "
                                        "send again)."), gettext_lazy("Cancel the campaign")))
    def cancel_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        return self._press(request, object_id, services.campaign_cancel, gettext("“%(campaign)s” cancelled."))

    @action(description=gettext_lazy("Duplicate"), icon="content_copy", url_path="duplicate",
            permissions=["duplicate"],
            dialog=_dialog(gettext_lazy("Duplicate this campaign?"),
                           gettext_lazy("A new draft with the same draft, segment, platforms and timing (a past "
                                        "send time moves forward by whole days)."), gettext_lazy("Duplicate")))
    def duplicate_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        original = self.get_object(request, object_id)
        if original is None:
            return self._back(request, reverse("admin:campaigns_campaign_changelist"))
        copy = services.campaign_duplicate(campaign=original, actor=request.user)
        self.message_user(request, gettext("“%(copy)s” created as a draft from “%(original)s”.")
                          % {"copy": copy, "original": original}, messages.SUCCESS)
        return self._back(request, reverse("admin:campaigns_campaign_change", args=[copy.pk]))

    @action(description=gettext_lazy("Send test"), icon="send", url_path="send-test", permissions=["send_test"],
            dialog=SEND_TEST_DIALOG)
    def send_test_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        if campaign is None:
            return self._back(request, reverse("admin:campaigns_campaign_changelist"))
        send_test_and_report(self, request, campaign=campaign)
        return self._back(request, reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    @action(description=gettext_lazy("Follow up"), icon="forward_to_inbox", url_path="follow-up",
            permissions=["follow_up"])
    def follow_up_button(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A page, not a dialog: the resends say how many first and ask for confirmation."""
        return self.follow_up_page(request, object_id)  # FollowUpsAdminMixin

    # --- the page's read-only parts ----------------------------------------------------

    @staticmethod
    def _stats(obj: Campaign) -> dict[str, int]:
        if not hasattr(obj, "_stats"):
            obj._stats = selectors.campaign_stats(obj)  # one count per row, not one per column
        return obj._stats

    def get_changelist_instance(self, request: HttpRequest):
        """The list's page reads its progress bars from the counters at once (two queries)."""
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)  # evaluated once; the rows below are the ones shown
        stats = selectors.campaigns_stats(page)
        for obj in page:
            obj._stats = stats[obj.pk]
        return changelist

    @display(description=gettext_lazy("platforms"))
    def platform_list(self, obj: Campaign) -> str:
        return platform_names(obj.platforms)

    @display(description=gettext_lazy("progress"))
    def progress_bar(self, obj: Campaign) -> SafeString:
        return progress_bar(self._stats(obj), width="10rem")

    @display(description=gettext_lazy("results"))
    def results(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "-"
        stats = self._stats(obj)
        by_platform = selectors.campaign_stats_by_platform(obj)
        keys = [k for k in stats if k != "opted_out_48h"]
        left_out = (reverse("admin:campaigns_delivery_changelist")
                    + f"?campaign__id__exact={obj.pk}&status__in={','.join(LEFT_OUT)}")
        ledger = reverse("admin:campaigns_delivery_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html(
            "{}{}{}{}<p><a href='{}'>{}</a> · <a href='{}'>{}</a></p>",
            progress_bar(stats),
            _table([stat_label(k) for k in stats], [list(stats.values())]),
            _table([gettext("platform"), *[stat_label(k) for k in keys]],
                   [[platform_names([p]), *[counts.get(k, 0) for k in keys]] for p, counts in by_platform.items()]),
            link_clicks_table(obj),
            left_out, gettext("Who was left out and why"), ledger, gettext("The whole delivery ledger"),
        )

    @display(description=gettext_lazy("sends over time"))
    def sends_chart(self, obj: Campaign) -> SafeString | str:
        return "-" if obj.pk is None else campaign_sends_html(obj)

    @display(description=gettext_lazy("forecast"))
    def forecast_inline(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return gettext("Save the campaign to see its forecast.")
        if obj.status not in FORECAST_STATUSES:
            return gettext("Sending started: the results above are what happened.")
        forecast = delivery.campaign_forecast(campaign=obj, now=timezone.now())
        return render_to_string("admin/campaigns/campaign/forecast_tables.html", {
            "forecast": forecast, "timeline_chart": spread_window.timeline_html(forecast, obj)})
