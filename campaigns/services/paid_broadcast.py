"""Scheduling a Telegram paid broadcast (campaigns/delivery/paid.py): only with Telegram
chosen, and only when the bot's Stars cover what the forecast says it costs.

The balance is read from Telegram (getMyStarBalance) each time the campaign is scheduled
or approved. When it cannot be read (Telegram unreachable, the token refused) scheduling
is refused with the reason: a paid broadcast is never started blind. The sandbox (no
TELEGRAM_BOT_TOKEN) has no Stars and spends none, since nothing reaches Telegram: there
the check is skipped, and the forecast says that nothing is charged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from channels.base import ChannelError

from .. import accounts
from ..models import Campaign


def paid_platform_problem(paid: bool, platforms: Iterable[str]) -> str | None:
    """Why `paid_broadcast` cannot be on with these platforms (None: it can)."""
    if paid and "telegram" not in platforms:
        return _("a paid broadcast is a Telegram feature: choose the telegram platform, or turn paid_broadcast off")
    return None


def _stars(value: Decimal) -> str:
    return format(value.normalize(), "f")


def campaign_paid_problems(campaign: Campaign, *, now: datetime, check_balance: bool = True) -> dict[str, list[str]]:
    """What keeps a paid broadcast from being scheduled, under `paid_broadcast`: no
    Telegram chosen, the bot's balance unreadable, or short of the forecast's Stars
    (`check_balance` False: the platform only, without asking Telegram)."""
    if not campaign.paid_broadcast:
        return {}
    problem = paid_platform_problem(True, campaign.platforms or [])
    if problem:
        return {"paid_broadcast": [problem]}
    try:  # the bot the campaign sends from pays: its account's balance
        channel = accounts.channel("telegram", campaign.telegram_account)
    except accounts.AccountUnavailable as exc:
        return {"telegram_account": [str(exc)]}
    if channel.sandbox or not check_balance:
        return {}
    from ..delivery.forecast import campaign_forecast  # the engine imports services

    stars = campaign_forecast(campaign=campaign, now=now)["telegram_paid"]["stars"]
    if stars == 0:
        return {}
    read_balance = getattr(channel, "star_balance", None)
    if read_balance is None:
        return {"paid_broadcast": [_("this Telegram connection cannot read the bot's Stars balance")]}
    try:
        balance: Decimal = read_balance()
    except ChannelError as exc:
        return {"paid_broadcast": [
            _("the bot's Stars balance cannot be read (getMyStarBalance): %(reason)s; a paid broadcast is only "
              "scheduled once it is known to cover the cost (%(stars)s Stars)")
            % {"reason": exc.reason, "stars": stars}]}
    if balance < stars:
        return {"paid_broadcast": [
            _("the paid broadcast needs %(stars)s Stars, the bot has %(balance)s: top up the bot's balance, "
              "or turn paid_broadcast off") % {"stars": stars, "balance": _stars(balance)}]}
    return {}
