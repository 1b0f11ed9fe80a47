"""Which sender account a campaign's list sends from, its adapter, ceiling and limiter key.

No account (None) is the platform's default account: the environment's credentials
(TELEGRAM_BOT_TOKEN, ...), the platform's ceiling (TACT_RATE_<PLATFORM>) and the limiter key
`tact:rate:<platform>`, exactly as before sender accounts existed. An account of its own has
its credentials (decrypted here, in the worker, never logged), its own ceiling (or the
platform's) and its own key `tact:rate:<platform>:<slug>`, shared by every worker.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from channels.base import Channel
from channels.registry import channel_for

from .models import SenderAccount

DEFAULT = "default"


class AccountUnavailable(Exception):
    """The account is inactive or its credentials cannot be read: nothing is sent from it."""


def label(account: SenderAccount | None) -> str:
    """How the account is named in metrics, logs and the forecast: its slug, or "default"."""
    return account.slug if account is not None else DEFAULT


def channel(platform: str, account: SenderAccount | None, *, max_in_flight: int = 100) -> Channel:
    if account is None:
        return channel_for(platform, max_in_flight=max_in_flight)
    if not account.active:
        raise AccountUnavailable(f"the {platform} account {account.slug!r} is inactive")
    try:
        credentials = account.credentials
    except Exception as exc:  # CredentialsUnreadable: the key changed
        raise AccountUnavailable(str(exc)) from exc
    return channel_for(platform, max_in_flight=max_in_flight, credentials=credentials)


def rate(platform: str, account: SenderAccount | None) -> float | None:
    """The account's ceiling in messages (requests) a second; None: no ceiling."""
    if account is not None and account.rate_per_second:
        return account.rate_per_second
    return settings.TACT_RATE.get(platform)


def limiter_key(platform: str, account: SenderAccount | None) -> str:
    return f"tact:rate:{platform}" if account is None else f"tact:rate:{platform}:{account.slug}"


def subscriptions_of(campaign, prefix: str = "") -> Q:
    """Subscriptions on the campaign's platforms, each of the account the campaign picked
    for that platform (the default account: none)."""
    q = Q(pk__in=[])
    for platform in campaign.platforms:
        account_id = campaign.account_id_for(platform)
        q |= Q(**{f"{prefix}platform": platform, f"{prefix}account_id": account_id}) if account_id else Q(
            **{f"{prefix}platform": platform, f"{prefix}account__isnull": True})
    return q
