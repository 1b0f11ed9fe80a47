"""Figures for the admin's charts: the last 30 days per day, one campaign's sends over time, and
the opt-outs within 48 h of the last completed campaigns.

Counted in SQL (one grouped query per series), in the zone of whoever looks: a day or an hour
is the viewer's, so a message sent at 23:30 UTC counts for the next day in Moscow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import Trunc, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _lazy

from .models import Campaign, ConsentEvent, Delivery, PlatformChoices
from .selectors import campaigns_stats

DAYS = 30
SENT = (Delivery.Status.SENT, Delivery.Status.DELIVERED, Delivery.Status.READ)


@dataclass(frozen=True)
class Series:
    """One line of the daily chart: which rows count, and the moment that dates them."""

    key: str
    label: object  # a lazy translation
    color: str
    rows: Callable[[], QuerySet]
    moment: str


# The daily chart's lines, in order.
DAILY_SERIES: tuple[Series, ...] = (
    Series("sent", _lazy("sent"), "#7c3aed", lambda: Delivery.objects.filter(status__in=SENT), "sent_at"),
    Series("delivered", _lazy("delivered"), "#2563eb", lambda: Delivery.objects.all(), "delivered_at"),
    Series("read", _lazy("read"), "#16a34a", lambda: Delivery.objects.all(), "read_at"),
    # A delivery's first click on any of its tracked links.
    Series("clicked", _lazy("clicked"), "#d97706", lambda: Delivery.objects.all(), "clicked_at"),
    Series("opted_out", _lazy("opted out"), "#dc2626",
           lambda: ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPT_OUT), "at"),
)


def _day_start(day: date, zone: tzinfo) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), zone)


def daily_counts(*, now: datetime, zone: tzinfo, days: int = DAYS,
                 series: tuple[Series, ...] = DAILY_SERIES) -> dict:
    """{"days": [date, ...] (oldest first, today in `zone` last), "series": {key: [count per day]}}."""
    today = timezone.localtime(now, zone).date()
    day_list = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    start, end = _day_start(day_list[0], zone), _day_start(today + timedelta(days=1), zone)
    counts: dict[str, list[int]] = {}
    for s in series:
        per_day = dict(
            s.rows().filter(**{f"{s.moment}__gte": start, f"{s.moment}__lt": end})
            .annotate(day=TruncDate(s.moment, tzinfo=zone)).order_by().values("day")
            .annotate(n=Count("pk")).values_list("day", "n")
        )
        counts[s.key] = [per_day.get(day, 0) for day in day_list]
    return {"days": day_list, "series": counts}


# --- one campaign's sends over time ---------------------------------------------------

# Bucket size by the span between the first and last send: (longest span, Trunc kind, step).
BUCKETS = (
    (timedelta(hours=3), "minute", timedelta(minutes=1)),
    (timedelta(days=4), "hour", timedelta(hours=1)),
    (None, "day", timedelta(days=1)),
)


def bucket_for(span: timedelta) -> tuple[str, timedelta]:
    """Minutes for a short campaign, hours for a long one, days for one sent over many days."""
    for longest, kind, step in BUCKETS:
        if longest is None or span <= longest:
            return kind, step
    raise AssertionError("unreachable")


def campaign_sends(*, campaign_id: int, zone: tzinfo) -> dict:
    """Messages sent per time bucket and platform: {"kind": "minute"|"hour"|"day", "buckets":
    [aware datetime in `zone`, ...] (every bucket from the first send to the last, empty ones
    too), "platforms": {platform: [count per bucket]}}; no buckets before the first send."""
    rows = Delivery.objects.filter(campaign_id=campaign_id, status__in=SENT, sent_at__isnull=False)
    span = rows.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    if span["first"] is None:
        return {"kind": "minute", "buckets": [], "platforms": {}}
    kind, step = bucket_for(span["last"] - span["first"])
    found: dict[tuple[datetime, str], int] = {
        (bucket, platform): n
        for bucket, platform, n in rows.annotate(bucket=Trunc("sent_at", kind, tzinfo=zone)).order_by()
        .values("bucket", "platform").annotate(n=Count("pk")).values_list("bucket", "platform", "n")
    }
    buckets = _every_bucket(min(b for b, _ in found), max(b for b, _ in found), kind, step, zone)
    seen = {platform for _, platform in found}
    order = [p for p in PlatformChoices.values if p in seen]
    return {
        "kind": kind,
        "buckets": buckets,
        "platforms": {p: [found.get((b, p), 0) for b in buckets] for p in order},
    }


def _every_bucket(first: datetime, last: datetime, kind: str, step: timedelta, zone: tzinfo) -> list[datetime]:
    """The buckets from `first` to `last` inclusive; days by the calendar (a DST day has 23 or 25 hours)."""
    out = []
    if kind == "day":
        day, last_day = timezone.localtime(first, zone).date(), timezone.localtime(last, zone).date()
        while day <= last_day:
            out.append(_day_start(day, zone))
            day += timedelta(days=1)
        return out
    at = first
    while at <= last:
        out.append(timezone.localtime(at, zone))
        at += step
    return out


# --- opt-outs within 48 h per campaign (the fatigue signal's trend) ----------------------

TREND_CAMPAIGNS = 20


@dataclass(frozen=True)
class OptOutPoint:
    """One completed campaign: messages sent, people who opted out within 48 h of theirs, and
    the rate (opted out / sent, in percent, two decimals), as its page's results count them."""

    campaign: Campaign
    sent: int
    opted_out: int

    @property
    def rate(self) -> float:
        return round(100 * self.opted_out / self.sent, 2) if self.sent else 0.0


def opt_out_trend(*, limit: int = TREND_CAMPAIGNS) -> list[OptOutPoint]:
    """The last `limit` completed campaigns that sent something, oldest first, with their
    page's `sent` and `opted_out_48h` (selectors.campaigns_stats: the counters and one query
    for the opt-outs; a purged ledger's campaign: its kept counts)."""
    sent_any = Exists(Delivery.objects.filter(campaign_id=OuterRef("pk"), sent_at__isnull=False))
    campaigns = list(
        Campaign.objects.filter(status=Campaign.Status.COMPLETED, finished_at__isnull=False)
        .filter(Q(stats_archive__isnull=False) | Q(sent_any))
        .order_by("-finished_at", "-pk")[:limit]
    )[::-1]
    stats = campaigns_stats(campaigns)
    return [OptOutPoint(c, stats[c.pk]["sent"], stats[c.pk]["opted_out_48h"]) for c in campaigns]
