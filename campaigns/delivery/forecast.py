"""Before sending: who will receive a campaign, who is held back and why, how long it takes."""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext as _

from channels.limits import platform_limits

from .. import accounts, fatigue, rules
from ..models import Campaign, SenderAccount
from ..services.sender_accounts import picked_account_problem
from . import forecast_counts, manual, timeline
from .common import current_policy, packing_size
from .paid import paid_forecast
from .planning import SendTimes


def templates_needed(*, campaign: Campaign, now: datetime) -> int:
    """WhatsApp receivers outside the 24-hour window at send time, who can only get a
    template (the forecast's `templates_needed`, without the rest of the forecast)."""
    return forecast_counts.templates_needed(campaign=campaign, now=now)


def _account(campaign: Campaign, platform: str) -> SenderAccount | None:
    account_id = campaign.account_id_for(platform)
    return None if account_id is None else getattr(campaign, f"{platform}_account")


def _account_facts(platform: str, account: SenderAccount | None) -> dict:
    """The account it sends from (slug, name; null: the default one) and whether that account
    sends live or into the sandbox; `account_problem` when it cannot send at all."""
    facts: dict = {"account": accounts.label(account) if account is not None else None,
                   "account_name": account.name if account is not None else _("default account")}
    try:
        facts["sandbox"] = accounts.channel(platform, account).sandbox
    except accounts.AccountUnavailable as exc:  # inactive, or its credentials cannot be decrypted
        facts["sandbox"] = False
        facts["account_problem"] = picked_account_problem(platform, account) or str(exc)
    return facts


def campaign_forecast(*, campaign: Campaign, now: datetime) -> dict:
    """Before sending: who will receive it per platform, who is held back and why, how many
    lists, and how long it takes at the configured ceilings. Counted in SQL (forecast_counts)."""
    policy, quiet = current_policy()
    times = SendTimes(campaign, quiet)
    counts = forecast_counts.audience_counts(campaign=campaign, now=now, policy=policy, times=times)
    receivers = counts.receivers
    by_zone = counts.receivers_by_zone  # receivers per time zone, for the timeline
    templates_needed = counts.templates_needed
    held = {"cap": counts.cap, "quiet_hours": counts.quiet_hours, "no_consent": counts.no_consent,
            "fatigue": fatigue.held_out_count(campaign)}
    audience = counts.audience

    platforms = {}
    for platform in campaign.platforms:
        n = receivers.get(platform, 0)
        size = platform_limits(platform).list_size
        account = _account(campaign, platform)  # None: the platform's default account (the environment's)
        rate = accounts.rate(platform, account)  # the account's own ceiling, else the platform's
        platforms[platform] = {
            "receivers": n,
            "lists": rules.list_count(n, packing_size(platform)),
            "list_size": size,
            "rate_per_second": rate,
            "seconds": round(n / rate, 1) if rate else None,
            **_account_facts(platform, account),
        }
        if platform == "whatsapp":
            platforms[platform]["templates_needed"] = templates_needed
    paid = paid_forecast(campaign=campaign, platforms=platforms)  # Telegram's paid ceiling, time and Stars
    timed = [p["seconds"] for p in platforms.values() if p["seconds"] is not None]
    forecast = {
        **({"telegram_paid": paid} if paid else {}),
        "audience": audience,
        "receivers": sum(receivers.values()),
        "platforms": platforms,
        "held_back": held,
        "duration_seconds": timeline.duration_seconds(campaign, max(timed) if timed else 0),
        "timeline": timeline.campaign_timeline(campaign=campaign, receivers_by_zone=by_zone, now=now, quiet=quiet),
        "notes": {
            "cap": _("will be held by the frequency cap at their send time (sent later, or skipped after expiry)"),
            "quiet_hours": _("their send time falls in quiet hours and moves to the end of them"),
            "no_consent": _("no opted-in subscription on the chosen platforms: not sent"),
            "fatigue": fatigue.forecast_note(),
            "templates_needed": _("WhatsApp receivers outside the 24-hour window at send time: they get the draft's "
                                  "approved template, or nothing if it has none"),
        },
    }
    if campaign.manual:  # lists for the phone apps: their sizes, and who the apps cannot reach
        manual.forecast_lists(campaign, forecast)
    return forecast
