"""Register this service's webhook with Telegram, with its secret token, and set the bot's
description (shown above the Start button) to the consent wording that /start records."""

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telegram import Bot

from channels.inbound import RUSSIAN_CODES, consent_text
from channels.telegram_bot import ALLOWED_UPDATES


class Command(BaseCommand):
    help = "Point the bot at https://<your host>/webhooks/telegram/ (uses TELEGRAM_WEBHOOK_SECRET)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("url", help="Public HTTPS URL of /webhooks/telegram/")
        parser.add_argument("--delete", action="store_true", help="Remove the webhook instead")

    def handle(self, *args, url: str, delete: bool, **options) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set")
        secret = settings.TELEGRAM_WEBHOOK_SECRET
        if not delete and not secret:
            raise CommandError("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would answer 403 to Telegram")

        async def run() -> bool:
            async with Bot(settings.TELEGRAM_BOT_TOKEN, base_url=settings.TELEGRAM_API_URL) as bot:
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
