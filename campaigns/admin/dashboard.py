"""The admin's home (settings.UNFOLD["DASHBOARD_CALLBACK"]): campaigns sending now and the next ones."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from .. import selectors
from ..models import Campaign
from .attention import dashboard_warnings
from .campaign_page import platform_names, progress_bar
from .charts import daily_chart, opt_out_trend_chart

SHOWN = 10


def dashboard(request: HttpRequest, context: dict) -> dict:
    """Adds `tact_running` (with progress bars), `tact_upcoming`, `tact_warnings`, `tact_daily_chart`
    (the last 30 days) and `tact_opt_out_chart` (opt-outs within 48 h per campaign) for those who may
    view campaigns."""
    if not request.user.has_perm("campaigns.view_campaign"):
        return context
    running = Campaign.objects.filter(status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED]).order_by(
        "send_at", "pk")[:SHOWN]
    upcoming = Campaign.objects.filter(
        status__in=[Campaign.Status.SCHEDULED, Campaign.Status.AWAITING_APPROVAL]).order_by("send_at", "pk")[:SHOWN]
    running = list(running)
    stats = selectors.campaigns_stats(running)  # from the counters, the whole list at once
    context["tact_running"] = [
        {"campaign": c, "platforms": platform_names(c.platforms), "bar": progress_bar(stats[c.pk])}
        for c in running
    ]
    context["tact_upcoming"] = [{"campaign": c, "platforms": platform_names(c.platforms)} for c in upcoming]
    now = timezone.now()
    context["tact_warnings"] = dashboard_warnings(now=now)
    context["tact_daily_chart"] = daily_chart(now=now)
    context["tact_opt_out_chart"] = opt_out_trend_chart()  # None until a campaign completed
    return context
