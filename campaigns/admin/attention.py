"""The home page's warnings that need someone to act: a queue no worker takes, a campaign a
platform refusal (or a problem of its own) holds up, WhatsApp receivers who would get nothing,
a brand channel Tact cannot post to while posts are scheduled there or failed there lately."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import delivery
from ..health import QUEUES_CACHE_KEY, worker_queues  # noqa: F401  (the key: tests empty it)
from ..models import BrandChannel, Campaign, Post, Publication

SENDING = (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING)
# Which queues have a worker is asked by campaigns/health.py (here at most every 30 s; the
# answer waits in the cache, Redis in production).

# The forecast streams a campaign's audience: only the next few campaigns are judged, and
# each answer is kept a while (a new one as soon as the campaign changes).
TEMPLATE_CHECKS = 5
TEMPLATE_CACHE_SECONDS = 120
SHOWN = 10
SENDING_LOOKED_AT = 200
# A post that failed in a channel Tact cannot post to is shown on the home page this long.
FAILED_SHOWN_FOR = timedelta(days=7)


def _link(campaign: Campaign) -> tuple[str, str]:
    return str(campaign), reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def _queue_warnings(sending: list[Campaign]) -> list[dict]:
    needs: dict[str, list[Campaign]] = {}
    for campaign in sending:
        for queue in [settings.CELERY_TASK_DEFAULT_QUEUE, *campaign.platforms]:
            needs.setdefault(queue, []).append(campaign)
    if not needs:
        return []
    answer = worker_queues()
    if answer["error"]:
        return [{"kind": "broker", "text": _(
            "The task broker cannot be asked which queues have a worker (%(error)s): it is not known whether "
            "scheduled and running campaigns can be sent.") % {"error": answer["error"]},
            "links": [_link(c) for c in sending[:3]]}]
    have = set(answer["queues"])
    return [{"kind": "queue", "queue": queue, "text": _no_worker_text(queue, len(campaigns)),
             "links": [_link(c) for c in campaigns[:3]]}
            for queue, campaigns in sorted(needs.items()) if queue not in have]


def _no_worker_text(queue: str, n: int) -> str:
    return ngettext(
        "No worker takes the “%(queue)s” queue, which %(n)s scheduled or running campaign needs: nothing is "
        "sent there until one runs (celery -A config worker).",
        "No worker takes the “%(queue)s” queue, which %(n)s scheduled or running campaigns need: nothing is "
        "sent there until one runs (celery -A config worker).", n) % {"queue": queue, "n": n}


def _problem_warnings() -> list[dict]:
    held = Campaign.objects.exclude(problem="").filter(
        status__in=[*SENDING, Campaign.Status.PAUSED]).order_by("problem_since", "pk")[:SHOWN]
    return [{"kind": "problem", "campaign": c.pk, "text": _problem_text(c), "links": [_link(c)]} for c in held]


def _problem_text(campaign: Campaign) -> str:
    values = {"campaign": campaign, "status": campaign.get_status_display(), "problem": campaign.problem}
    if campaign.problem_since is None:
        return _("“%(campaign)s” (%(status)s) is held up: %(problem)s") % values
    since = date_format(timezone.localtime(campaign.problem_since), "SHORT_DATETIME_FORMAT")
    return _("“%(campaign)s” (%(status)s) is held up since %(since)s: %(problem)s") % {**values, "since": since}


def _templates_needed(campaign: Campaign, now: datetime) -> int:
    """The forecast's WhatsApp receivers outside the 24-hour window, kept a while per campaign version."""
    key = f"tact:dashboard:templates-needed:{campaign.pk}:{campaign.updated_at.timestamp()}"
    n = cache.get(key)
    if n is None:
        forecast = delivery.campaign_forecast(campaign=campaign, now=now)
        n = forecast["platforms"].get("whatsapp", {}).get("templates_needed", 0)
        cache.set(key, n, TEMPLATE_CACHE_SECONDS)
    return n


def _template_warnings(sending: list[Campaign], now: datetime) -> list[dict]:
    without = [c for c in sending if "whatsapp" in c.platforms and not c.content_whatsapp_template]
    out = []
    for campaign in without[:TEMPLATE_CHECKS]:
        n = _templates_needed(campaign, now)
        if n:
            out.append({"kind": "template", "campaign": campaign.pk, "n": n, "text": ngettext(
                "“%(campaign)s”: %(n)s WhatsApp receiver is outside the 24-hour window and the campaign has no "
                "approved template, so they get nothing. Its content was frozen when scheduled: give the draft "
                "a template, then cancel this campaign and duplicate it.",
                "“%(campaign)s”: %(n)s WhatsApp receivers are outside the 24-hour window and the campaign has no "
                "approved template, so they get nothing. Its content was frozen when scheduled: give the draft "
                "a template, then cancel this campaign and duplicate it.", n) % {"campaign": campaign, "n": n},
                "links": [_link(campaign), (str(campaign.draft),
                                            reverse("admin:campaigns_draft_change", args=[campaign.draft_id]))]})
    return out


def _channel_warnings(now: datetime) -> list[dict]:
    """Brand channels Tact cannot post to (the bot lost its rights, a refused token) with posts
    scheduled there, or where a post failed lately (nothing is retried: someone has to act)."""
    waiting = Q(posts__status__in=[Post.Status.SCHEDULED, Post.Status.PUBLISHING])
    failed = Q(publications__status=Publication.Status.FAILED, publications__updated_at__gte=now - FAILED_SHOWN_FOR)
    channels = (BrandChannel.objects.filter(can_post=False).exclude(problem="")
                .annotate(waiting=Count("posts", filter=waiting, distinct=True),
                          failed=Count("publications", filter=failed, distinct=True))
                .filter(Q(waiting__gt=0) | Q(failed__gt=0)).order_by("platform", "title", "pk")[:SHOWN])
    return [{"kind": "channel", "channel": c.pk, "text": _channel_text(c),
             "links": [(str(c), reverse("admin:campaigns_brandchannel_change", args=[c.pk]))]} for c in channels]


def _channel_text(channel: BrandChannel) -> str:
    values = {"channel": channel, "problem": channel.problem.rstrip("."), "n": channel.waiting or channel.failed,
              "days": FAILED_SHOWN_FOR.days}
    if channel.waiting:
        return ngettext(
            "Tact cannot post to the channel “%(channel)s”: %(problem)s. %(n)s scheduled post is waiting for it.",
            "Tact cannot post to the channel “%(channel)s”: %(problem)s. %(n)s scheduled posts are waiting for it.",
            channel.waiting) % values
    return ngettext(
        "Tact cannot post to the channel “%(channel)s”: %(problem)s. %(n)s post was not published there in the "
        "last %(days)s days and is not retried: once the channel is fixed and checked again, schedule it anew.",
        "Tact cannot post to the channel “%(channel)s”: %(problem)s. %(n)s posts were not published there in the "
        "last %(days)s days and are not retried: once the channel is fixed and checked again, schedule them anew.",
        channel.failed) % values


def dashboard_warnings(*, now: datetime) -> list[dict]:
    """Each: {"kind", "text", "links": [(label, url)]}, the most urgent kinds first."""
    sending = list(Campaign.objects.filter(status__in=SENDING).select_related("draft")
                   .order_by("send_at", "pk")[:SENDING_LOOKED_AT])
    return [*_queue_warnings(sending), *_problem_warnings(), *_channel_warnings(now),
            *_template_warnings(sending, now)]
