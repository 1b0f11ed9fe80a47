"""The content calendar: each brand channel's scheduled and published posts, week by week, in the
viewer's own zone (rows = channels, columns = the 7 days of the week)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext

from ..models import BrandChannel, Post, Publication
from ..rules import wall_clock
from ..services.cadence_guard import channel_policy, channel_zone

PERMISSION = "campaigns.view_post"
# Cancelled publications left the channel's plan; everything else was or will be in the channel.
SHOWN = (Publication.Status.PLANNED, Publication.Status.SENDING, Publication.Status.PUBLISHED,
         Publication.Status.UNCERTAIN, Publication.Status.FAILED)


@dataclass
class Chip:
    at: datetime  # in the viewer's zone
    name: str
    status: str
    silent: bool
    link: str | None


@dataclass
class Day:
    day: date
    today: bool
    chips: list[Chip] = field(default_factory=list)


@dataclass
class Row:
    channel: BrandChannel
    link: str | None
    policy: str
    days: list[Day]


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def _link(name: str, pk: int) -> str | None:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:  # the page's admin is not registered
        return None


def policy_text(channel: BrandChannel) -> str:
    """The channel's cadence policy in a marketer's words."""
    policy = channel_policy(channel)
    night = (gettext("posted silently") if policy.night_policy == BrandChannel.NightPolicy.SILENT
             else gettext("moved to the night's end"))
    return gettext("at most %(max)s a day, at least %(gap)s minutes apart; night %(start)s–%(end)s %(zone)s: "
                   "%(night)s") % {
        "max": policy.max_posts_per_day, "gap": policy.min_gap_minutes, "start": f"{policy.night_start:%H:%M}",
        "end": f"{policy.night_end:%H:%M}", "zone": str(policy.tz), "night": night}


def _publication_moment(publication: Publication) -> datetime:
    return publication.published_at or publication.publish_after


def _night_silent(channel: BrandChannel, moment: datetime) -> bool:
    policy = channel_policy(channel)
    return policy.night_policy == BrandChannel.NightPolicy.SILENT and policy.night.contains(
        moment.astimezone(channel_zone(channel)).time())


def calendar_rows(monday: date, today: date) -> list[Row]:
    """Every channel's posts in the week from `monday`, in the current (viewer's) zone."""
    zone = timezone.get_current_timezone()
    start, end = wall_clock(monday, time(0), zone), wall_clock(monday + timedelta(days=7), time(0), zone)
    publications = (Publication.objects
                    .filter(status__in=SHOWN)
                    .exclude(post__status__in=[Post.Status.DRAFT, Post.Status.CANCELLED])
                    .filter(Q(published_at__gte=start, published_at__lt=end)
                            | Q(published_at__isnull=True, publish_after__gte=start, publish_after__lt=end))
                    .select_related("post")
                    .order_by("channel_id", "publish_after", "id"))
    by_channel: dict[int, list[Publication]] = {}
    for publication in publications:
        by_channel.setdefault(publication.channel_id, []).append(publication)
    rows = []
    for channel in BrandChannel.objects.order_by("platform", "title", "id"):
        days = [Day(day=monday + timedelta(days=n), today=monday + timedelta(days=n) == today) for n in range(7)]
        for publication in sorted(by_channel.get(channel.pk, []), key=_publication_moment):
            moment = timezone.localtime(_publication_moment(publication), zone)
            post = publication.post
            days[(moment.date() - monday).days].chips.append(Chip(
                at=moment, name=str(post), status=publication.get_status_display(),
                silent=publication.silent or post.silent or _night_silent(channel, moment),
                link=_link("admin:campaigns_post_change", post.pk)))
        rows.append(Row(channel=channel, link=_link("admin:campaigns_brandchannel_change", channel.pk),
                        policy=policy_text(channel), days=days))
    return rows


def calendar_view(request: HttpRequest) -> HttpResponse:
    """The content calendar page (?week=YYYY-MM-DD: the week holding that day; this week without it)."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    today = timezone.localdate()
    raw = request.GET.get("week", "")
    try:
        shown = date.fromisoformat(raw) if raw else today
    except ValueError:
        return HttpResponseBadRequest(gettext("week: “%(value)s” is not a date (YYYY-MM-DD)") % {"value": raw},
                                      content_type="text/plain; charset=utf-8")
    monday = week_start(shown)
    if not date.min + timedelta(days=7) <= monday <= date.max - timedelta(days=14):
        return HttpResponseBadRequest(gettext("week: “%(value)s” is out of range") % {"value": raw},
                                      content_type="text/plain; charset=utf-8")
    sunday = monday + timedelta(days=6)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Content calendar"),
        "caption": gettext("Posts of the week %(monday)s – %(sunday)s, times in %(zone)s") % {
            "monday": monday.isoformat(), "sunday": sunday.isoformat(), "zone": timezone.get_current_timezone_name()},
        "days": [monday + timedelta(days=n) for n in range(7)],
        "today": today,
        "rows": calendar_rows(monday, today),
        "previous_week": (monday - timedelta(days=7)).isoformat(),
        "next_week": (monday + timedelta(days=7)).isoformat(),
        "this_week": week_start(today) == monday,
    }
    return TemplateResponse(request, "admin/campaigns/post/calendar.html", context)
