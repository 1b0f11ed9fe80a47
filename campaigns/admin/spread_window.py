"""A campaign's spread and send window in the admin: the form's fields, help texts and checks,
and the forecast's chart of the messages expected per hour."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from .. import windows
from ..models import Campaign, FrequencyPolicy
from .charts import chart_context

FIELDS = ["spread_hours", "send_window_start", "send_window_end"]
HELP_TEXTS = {
    "spread_hours": gettext_lazy(
        "Send evenly over this many hours (0.01-168) from each person's send time, instead of as fast as the "
        "platform allows (Telegram advises it for large broadcasts). Empty: at once."),
    "send_window_start": gettext_lazy(
        "Send only between these local hours of each person, on top of quiet hours; a message whose time falls "
        "outside waits for the next opening. Both or neither."),
    "send_window_end": gettext_lazy(
        "Earlier than the start: the window crosses midnight (e.g. 20:00-02:00)."),
}


def fieldset() -> tuple[str, dict]:
    return (gettext("Spread and send window"), {"fields": FIELDS})


def clean_spread_window(form: forms.ModelForm, data: dict) -> None:
    """Add the spread and window problems to the form, each on its field (only the fields the
    form has: a scheduled campaign shows them read-only)."""
    if not any(name in form.fields for name in FIELDS):
        return
    instance = form.instance

    def value(name: str) -> object:
        return data.get(name) if name in form.fields else getattr(instance, name, None)

    problems = windows.timing_problems(
        spread_hours=value("spread_hours"), window_start=value("send_window_start"),
        window_end=value("send_window_end"), send_at=value("send_at"), expires_at=value("expires_at"),
        quiet=FrequencyPolicy.current().quiet_hours())
    for field, messages in problems.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


def timeline_html(forecast: dict, campaign: Campaign) -> SafeString | str:
    """The forecast's messages per hour as a bar chart (hours in the viewer's zone), with the
    campaign's spread and window in words."""
    timeline = forecast.get("timeline") or []
    if not timeline:
        return ""
    zone = timezone.get_current_timezone()
    hours: list[datetime] = [timezone.localtime(parse_datetime(b["hour"]), zone) for b in timeline]
    one_day = len({h.date() for h in hours}) == 1
    chart = chart_context(
        name="forecast-timeline",
        title=gettext("Messages expected per hour"),
        kind="bar",
        first_column=gettext("Hour (%(zone)s)") % {"zone": timezone.get_current_timezone_name()},
        times=[(h.isoformat(), date_format(h, "TIME_FORMAT" if one_day else "SHORT_DATETIME_FORMAT")) for h in hours],
        series=[(gettext("messages"), "#0ea5e9", [b["count"] for b in timeline])],
    )
    window = windows.send_window(campaign.send_window_start, campaign.send_window_end)
    return render_to_string("admin/campaigns/campaign/forecast_timeline.html", {
        "chart": chart, "spread_hours": campaign.spread_hours,
        "window": f"{window.start:%H:%M}-{window.end:%H:%M}" if window else "",
    })
