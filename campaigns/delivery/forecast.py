"""Before sending: who will receive a campaign, who is held back and why, how long it takes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from channels.limits import platform_limits
from channels.registry import channel_for

from .. import rules
from ..models import Campaign, Delivery, Subscription
from .common import COUNTED, PAGE, WHATSAPP_WINDOW, current_policy, packing_size, zone
from .planning import Choice, SendTimes, audience_choices


def _outside_window(subscription_ids: list[int], campaign: Campaign, now: datetime) -> int:
    """How many of these WhatsApp subscriptions are outside the 24-hour window at send time."""
    if not subscription_ids:
        return 0
    return Subscription.objects.filter(pk__in=subscription_ids).exclude(
        last_inbound_at__gte=max(campaign.send_at, now) - WHATSAPP_WINDOW).count()


def templates_needed(*, campaign: Campaign, now: datetime) -> int:
    """WhatsApp receivers outside the 24-hour window at send time, who can only get a
    template (the forecast's `templates_needed`, without the rest of the forecast)."""
    if "whatsapp" not in campaign.platforms:
        return 0
    needed = 0
    page: list[int] = []
    for choice in audience_choices(campaign):
        if choice.platform == "whatsapp":
            page.append(choice.subscription_id)
        if len(page) >= PAGE:
            needed += _outside_window(page, campaign, now)
            page = []
    return needed + _outside_window(page, campaign, now)


def campaign_forecast(*, campaign: Campaign, now: datetime) -> dict:
    """Before sending: who will receive it per platform, who is held back and why, how many
    lists, and how long it takes at the configured ceilings. Streams the audience."""
    policy, quiet = current_policy()
    times = SendTimes(campaign, quiet)
    receivers: dict[str, int] = defaultdict(int)
    templates_needed = 0
    held = {"cap": 0, "quiet_hours": 0, "no_consent": 0}
    audience = 0
    page: list[Choice] = []

    def judge(choices: list[Choice]) -> None:
        nonlocal templates_needed
        people = [c.subscriber_id for c in choices if c.platform]
        on_whatsapp = [c.subscription_id for c in choices if c.platform == "whatsapp"]
        templates_needed += _outside_window(on_whatsapp, campaign, now)
        past: dict[int, list[datetime]] = defaultdict(list)
        for subscriber_id, sent_at in Delivery.objects.filter(
            subscriber_id__in=people, status__in=COUNTED, sent_at__gte=now - rules.WEEK - timedelta(days=1)
        ).exclude(campaign=campaign).values_list("subscriber_id", "sent_at"):
            past[subscriber_id].append(sent_at)
        for c in choices:
            if c.platform is None:
                held["no_consent"] += 1
                continue
            receivers[c.platform] += 1
            at = max(times.at(c.timezone), now)
            if at != max(times.base(c.timezone), now):
                held["quiet_hours"] += 1
            if past[c.subscriber_id] and not rules.frequency_check(past[c.subscriber_id], policy, at, zone(c.timezone)).allowed:
                held["cap"] += 1

    for choice in audience_choices(campaign):
        audience += 1
        page.append(choice)
        if len(page) >= PAGE:
            judge(page)
            page = []
    judge(page)

    platforms = {}
    for platform in campaign.platforms:
        n = receivers.get(platform, 0)
        size = platform_limits(platform).list_size
        rate = settings.TACT_RATE.get(platform)
        platforms[platform] = {
            "receivers": n,
            "lists": rules.list_count(n, packing_size(platform)),
            "list_size": size,
            "rate_per_second": rate,
            "seconds": round(n / rate, 1) if rate else None,
            "sandbox": channel_for(platform).sandbox,
        }
        if platform == "whatsapp":
            platforms[platform]["templates_needed"] = templates_needed
    timed = [p["seconds"] for p in platforms.values() if p["seconds"] is not None]
    return {
        "audience": audience,
        "receivers": sum(receivers.values()),
        "platforms": platforms,
        "held_back": held,
        "duration_seconds": max(timed) if timed else 0,
        "notes": {
            "cap": _("will be held by the frequency cap at their send time (sent later, or skipped after expiry)"),
            "quiet_hours": _("their send time falls in quiet hours and moves to the end of them"),
            "no_consent": _("no opted-in subscription on the chosen platforms: not sent"),
            "templates_needed": _("WhatsApp receivers outside the 24-hour window at send time: they get the draft's "
                                  "approved template, or nothing if it has none"),
        },
    }
