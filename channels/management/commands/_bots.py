"""A Telegram sender account as the bot commands use it (telegram_poll, telegram_set_webhook --account)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import CommandError

from campaigns.credentials import CredentialsUnreadable
from campaigns.models import SenderAccount


@dataclass(frozen=True)
class Bot:
    account: SenderAccount
    token: str
    webhook_secret: str
    api_url: str  # ends with /bot, as TELEGRAM_API_URL


def bot_of(slug: str, *, inactive_too: bool = False) -> Bot:
    """The Telegram sender account `slug`, its credentials read, or CommandError saying why not."""
    account = SenderAccount.objects.filter(platform="telegram", slug=slug).first()
    if account is None:
        raise CommandError(f"no Telegram sender account with the slug {slug!r}")
    if not account.active and not inactive_too:
        raise CommandError(f"the Telegram sender account {slug!r} is inactive: its webhook answers 404 and "
                           "nothing is sent from it")
    try:
        credentials = account.credentials
    except CredentialsUnreadable as exc:
        raise CommandError(str(exc)) from exc
    if not credentials.get("token"):
        raise CommandError(f"the Telegram sender account {slug!r} has no token")
    api_url = (credentials.get("api_url") or settings.TELEGRAM_API_URL).rstrip("/")
    return Bot(account=account, token=credentials["token"], webhook_secret=credentials.get("webhook_secret", ""),
               api_url=api_url if api_url.endswith("/bot") else api_url + "/bot")
