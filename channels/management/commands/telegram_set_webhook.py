"""Register this service's webhook with Telegram, with its secret token, and set the bot's
description (shown above the Start button) to the consent wording that /start records.

`--account <slug>`: a sender account's bot, registered at {TACT_PUBLIC_URL}/webhooks/telegram/<slug>/
with that account's webhook_secret (default: TELEGRAM_BOT_TOKEN's bot at /webhooks/telegram/)."""

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from telegram import Bot

from channels.inbound import RUSSIAN_CODES, consent_text
from channels.telegram_bot import ALLOWED_UPDATES

from ._bots import bot_of


class Command(BaseCommand):
    help = ("Point the bot at https://<your host>/webhooks/telegram/ (uses TELEGRAM_WEBHOOK_SECRET), or a sender "
            "account's bot (--account) at /webhooks/telegram/<slug>/ with its own secret.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("url", nargs="?", default=None,
                            help="Public HTTPS URL of the webhook (default: TACT_PUBLIC_URL + /webhooks/telegram/, "
                                 "or /webhooks/telegram/<slug>/ with --account)")
        parser.add_argument("--delete", action="store_true", help="Remove the webhook instead")
        parser.add_argument("--account", metavar="SLUG",
                            help="The slug of a Telegram sender account (default: TELEGRAM_BOT_TOKEN's bot)")

    def handle(self, *args, url: str | None, delete: bool, account: str | None = None, **options) -> None:
        if account:
            bot = bot_of(account, inactive_too=delete)
            token, secret, api_url = bot.token, bot.webhook_secret, bot.api_url
            path = reverse("webhook-telegram-account", kwargs={"slug": bot.account.slug})
            if not delete and not secret:
                raise CommandError(f"the Telegram sender account {account!r} has no webhook_secret: "
                                   "the webhook would answer 403 to Telegram")
        else:
            if not settings.TELEGRAM_BOT_TOKEN:
                raise CommandError("TELEGRAM_BOT_TOKEN is not set")
            token, secret = settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_WEBHOOK_SECRET
            api_url = settings.TELEGRAM_API_URL
            path = reverse("webhook-telegram")
            if not delete and not secret:
                raise CommandError("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would answer 403 to Telegram")
        url = url or f"{settings.TACT_PUBLIC_URL}{path}"

        async def run() -> bool:
            async with Bot(token, base_url=api_url) as bot:
                if delete:
                    return await bot.delete_webhook()
                # What a person sees before pressing Start is exactly what their opt-in records.
                described = await bot.set_my_description(consent_text("telegram", "en"))
                for code in RUSSIAN_CODES:
                    described &= await bot.set_my_description(consent_text("telegram", code), language_code=code)
                return described and await bot.set_webhook(url=url, secret_token=secret,
                                                           allowed_updates=ALLOWED_UPDATES)

        if not asyncio.run(run()):
            raise CommandError("Telegram refused the request")
        self.stdout.write("Webhook removed." if delete else
                          f"Webhook set to {url} (with the secret token); the bot's description is the consent text.")
