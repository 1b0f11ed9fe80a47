"""The admin's charts: the home page's last 30 days and a campaign's sends over time, each drawn by
unfold's Chart.js component with its figures in a table (campaigns.charts counts them)."""

from __future__ import annotations

import json
from datetime import date, datetime

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from .. import charts
from ..models import Campaign, PlatformChoices

PLATFORM_COLORS = {"telegram": "#0ea5e9", "whatsapp": "#16a34a", "viber": "#7c3aed"}


def _options(*, stacked: bool) -> str:
    """Chart.js options (unfold's defaults hide the legend and the y axis: we want both)."""
    axis = {"stacked": stacked, "grid": {"display": False}}
    return json.dumps({
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": True,
        "aspectRatio": 3,
        "plugins": {"legend": {"display": True, "position": "top", "align": "end"}},
        "scales": {"x": axis, "y": {**axis, "beginAtZero": True, "ticks": {"precision": 0}}},
    })


def chart_context(*, name: str, title: str, kind: str, first_column: str, times: list[tuple[str, str]],
                  series: list[tuple[str, str, list[int]]]) -> dict:
    """What admin/tact/chart.html draws: `times` as (ISO, label), `series` as (label, colour, counts)."""
    return {
        "name": name,
        "title": title,
        "type": kind,
        "data": json.dumps({
            "labels": [label for _iso, label in times],
            "datasets": [{"label": label, "data": counts, "borderColor": color, "backgroundColor": color,
                          "maxBarThickness": 32} for label, color, counts in series],
        }),
        "options": _options(stacked=kind == "bar"),
        "first_column": first_column,
        "columns": [label for label, _color, _counts in series],
        "rows": [{"iso": iso, "label": label, "values": [counts[i] for _l, _c, counts in series]}
                 for i, (iso, label) in enumerate(times)],
    }


def daily_chart(*, now: datetime) -> dict:
    """The last 30 days in the viewer's zone (the middleware activated it)."""
    zone = timezone.get_current_timezone()
    figures = charts.daily_counts(now=now, zone=zone)
    days: list[date] = figures["days"]
    return chart_context(
        name="daily",
        title=_("The last %(n)s days") % {"n": len(days)},
        kind="line",
        first_column=_("Day (%(zone)s)") % {"zone": timezone.get_current_timezone_name()},
        times=[(d.isoformat(), date_format(d, "MONTH_DAY_FORMAT")) for d in days],
        series=[(str(s.label), s.color, figures["series"][s.key]) for s in charts.DAILY_SERIES],
    )


def _bucket_label(at: datetime, kind: str, one_day: bool) -> str:
    if kind == "day":
        return date_format(at, "MONTH_DAY_FORMAT")
    return date_format(at, "TIME_FORMAT" if one_day else "SHORT_DATETIME_FORMAT")


def campaign_sends_html(campaign: Campaign) -> SafeString | str:
    """Messages sent per minute, hour or day (by the campaign's span) and platform, in the viewer's zone."""
    zone = timezone.get_current_timezone()
    figures = charts.campaign_sends(campaign_id=campaign.pk, zone=zone)
    buckets: list[datetime] = figures["buckets"]
    if not buckets:
        return _("Nothing sent yet.")
    kind = figures["kind"]
    one_day = len({b.date() for b in buckets}) == 1
    first_column = {"minute": _("Minute (%(zone)s)"), "hour": _("Hour (%(zone)s)"), "day": _("Day (%(zone)s)")}[kind]
    names = dict(PlatformChoices.choices)
    chart = chart_context(
        name="campaign-sends",
        title={"minute": _("Messages sent per minute"), "hour": _("Messages sent per hour"),
               "day": _("Messages sent per day")}[kind],
        kind="bar",
        first_column=first_column % {"zone": timezone.get_current_timezone_name()},
        times=[(b.isoformat(), _bucket_label(b, kind, one_day)) for b in buckets],
        series=[(str(names.get(p, p)), PLATFORM_COLORS.get(p, "#6b7280"), counts)
                for p, counts in figures["platforms"].items()],
    )
    return render_to_string("admin/tact/chart.html", {"chart": chart})


def opt_out_trend_chart() -> dict | None:
    """The last completed campaigns, oldest first: the share of their receivers who opted out
    within 48 h (the fatigue signal), with sent and opted-out counts in the table; None: none yet."""
    points = charts.opt_out_trend()
    if not points:
        return None
    chart = chart_context(
        name="opt-out-trend",
        title=_("Opted out within 48 h, per campaign (the last %(n)s completed)") % {"n": len(points)},
        kind="line",
        first_column=_("Campaign (finished)"),
        times=[(p.campaign.finished_at.isoformat(),
                f"{p.campaign.name} ({date_format(timezone.localtime(p.campaign.finished_at), 'MONTH_DAY_FORMAT')})")
               for p in points],
        series=[(_("opted out / sent (%)"), "#dc2626", [p.rate for p in points])],
    )
    # The table has the counts behind each rate too.
    chart["columns"] = [_("sent"), _("opted out within 48 h"), _("opted out / sent (%)")]
    for row, p in zip(chart["rows"], points, strict=True):
        row["values"] = [p.sent, p.opted_out, p.rate]
    return chart
