"""Recurring campaigns in the admin: the form's recurrence fields (an RRULE text box with
presets), their checks, and on the page a series' next occurrences and its runs, or a run's
series."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from .. import recurrence, selectors
from ..models import Campaign
from ..services.series import recurrence_input_problems
from .campaign_page import progress_bar, stat_label
from .common import _table
from .my_settings import zone_choices

FIELDS = ["timezone", "recurrence", "recurrence_until"]
READONLY = ["next_occurrences", "runs_section", "series_link", "next_run_at"]
PRESETS_ID = "tact-recurrence-presets"
RUNS_SHOWN = 50
RUN_STATS = ("planned", "sent", "delivered", "read", "clicked", "failed", "held", "skipped", "uncertain")
RECURRENCE_HELP = gettext_lazy(
    "Repeat the campaign: an RFC 5545 RRULE read in the campaign's time zone, starting at send at. "
    "Examples: FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0 (Mondays at 10:00), "
    "FREQ=DAILY;BYHOUR=9;BYMINUTE=30 (every day at 09:30), "
    "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0;COUNT=6 (the last Friday of six months). "
    "End it with COUNT, UNTIL or the end date below. At most hourly. Each occurrence is a run: a campaign with "
    "its own results, sent to the segment as it is then, under the same caps and quiet hours. Empty: once.")


class RecurrenceWidget(UnfoldAdminTextInputWidget):
    """The RRULE text box, offering the presets as suggestions (an HTML datalist)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"list": PRESETS_ID, "placeholder": recurrence.PRESETS[0][0],
                                "autocomplete": "off", **(attrs or {})})

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        options = format_html_join("", '<option value="{}">{}</option>',
                                   ((rule, label) for rule, label in recurrence.PRESETS))
        return format_html('{}<datalist id="{}">{}</datalist>', super().render(name, value, attrs, renderer),
                           PRESETS_ID, options)


def zone_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=gettext_lazy("time zone"), required=False, choices=zone_choices, widget=UnfoldAdminSelectWidget,
        help_text=gettext_lazy("The zone the recurrence is read in (a weekly 10:00 stays 10:00 there across "
                               "daylight saving), and of send at's wall clock for a local-time campaign."))


def recurrence_field() -> forms.CharField:
    return forms.CharField(label=gettext_lazy("recurrence"), required=False, max_length=500,
                           widget=RecurrenceWidget(), help_text=RECURRENCE_HELP)


def fieldsets(obj: Campaign | None, *, editable: bool) -> list[tuple[str, dict]]:
    """The "Repeat" section: the fields while a draft is edited, then the series' next
    occurrences and runs; a run's link to its series."""
    if obj is not None and obj.series_id is not None:
        return [(gettext("Series"), {"fields": ["series_link"]})]
    if obj is None or editable:
        fields = [*FIELDS, "next_occurrences"] if obj is not None else FIELDS
        return [(gettext("Repeat"), {"fields": fields})]
    if not obj.recurrence:
        return []
    return [(gettext("Repeat"), {"fields": [*FIELDS, "next_run_at", "next_occurrences", "runs_section"]})]


def clean_series(form: forms.ModelForm, data: dict) -> None:
    """Add the recurrence problems to the form, each on its field."""
    if not any(name in form.fields for name in FIELDS):
        return
    instance = form.instance

    def value(name: str) -> Any:
        return data.get(name) if name in form.fields else getattr(instance, name, None)

    problems = recurrence_input_problems(rule=value("recurrence") or "", send_at=value("send_at"),
                                         zone_name=value("timezone") or "", until=value("recurrence_until"),
                                         now=timezone.now())
    for field, messages in problems.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class SeriesAdminMixin:
    """The page's read-only parts of a series and of a run."""

    @admin.display(description=gettext_lazy("next occurrences"))
    def next_occurrences(self, obj: Campaign) -> SafeString | str:
        if not obj.recurrence:
            return gettext("Does not repeat.")
        found = selectors.series_next_occurrences(obj, now=timezone.now())
        if not found:
            return gettext("No occurrence left.")
        zone_name = obj.timezone or settings.TIME_ZONE
        zone = recurrence.zone_for(obj.timezone)
        viewer = timezone.get_current_timezone_name()
        rows = [[dateformat.format(at.astimezone(zone), "D Y-m-d H:i"), f"{at.astimezone(UTC):%Y-%m-%d %H:%M}",
                 f"{timezone.localtime(at):%Y-%m-%d %H:%M}"] for at in found]
        headers = [gettext("in the campaign's zone (%(zone)s)") % {"zone": zone_name}, "UTC",
                   gettext("your time (%(zone)s)") % {"zone": viewer}]
        heading = ngettext("The next run:", "The next %(n)s runs:", len(found)) % {"n": len(found)}
        return format_html("<p>{}</p>{}", heading, _table(headers, rows))

    @admin.display(description=gettext_lazy("runs"))
    def runs_section(self, obj: Campaign) -> SafeString | str:
        runs = list(selectors.series_runs(obj)[: RUNS_SHOWN + 1])
        if not runs:
            return gettext("No run yet: the first is made when its time comes.")
        zone = recurrence.zone_for(obj.timezone)
        rows = []
        counted = selectors.campaigns_stats(runs[:RUNS_SHOWN])  # the page at once, from the counters
        for run in runs[:RUNS_SHOWN]:
            stats = counted[run.pk]
            link = format_html('<a href="{}">{}</a>', reverse("admin:campaigns_campaign_change", args=[run.pk]), run)
            rows.append([link, dateformat.format(run.occurrence.astimezone(zone), "D Y-m-d H:i"),
                         run.get_status_display(), progress_bar(stats, width="8rem"),
                         *[stats.get(key, 0) for key in RUN_STATS]])
        headers = [gettext("run"), gettext("occurrence"), gettext("status"), gettext("progress"),
                   *[stat_label(key) for key in RUN_STATS]]
        more = ""
        if len(runs) > RUNS_SHOWN:
            more = format_html("<p>{}</p>", gettext("The latest %(n)s runs; GET /api/campaigns/%(id)s/runs/ lists "
                                                    "them all.") % {"n": RUNS_SHOWN, "id": obj.pk})
        return format_html("{}{}", _table(headers, rows), more)

    @admin.display(description=gettext_lazy("series"))
    def series_link(self, obj: Campaign) -> SafeString | str:
        if obj.series_id is None:
            return "-"
        series = obj.series
        zone = recurrence.zone_for(series.timezone)
        link = format_html('<a href="{}">{}</a>', reverse("admin:campaigns_campaign_change", args=[series.pk]), series)
        # The sentence is translated whole; format_html escapes what goes into it.
        return format_html(gettext("A run of {series}, for its occurrence on {when} ({zone})."), series=link,
                           when=dateformat.format(obj.occurrence.astimezone(zone), "D Y-m-d H:i"),
                           zone=series.timezone or settings.TIME_ZONE)
