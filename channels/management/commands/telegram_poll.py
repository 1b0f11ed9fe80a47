"""Run the Telegram bot by long polling, for machines without a public URL."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from channels.telegram_bot import ALLOWED_UPDATES, build_application


class Command(BaseCommand):
    help = "Answer /start, /stop, /help and blocks by long polling (no webhook needed). Ctrl-C stops."

    def handle(self, *args, **options) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: the bot has nothing to poll")
        application = build_application(polling=True)
        self.stdout.write("Polling Telegram for updates (the webhook, if any, is removed first). Ctrl-C stops.")
        application.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
