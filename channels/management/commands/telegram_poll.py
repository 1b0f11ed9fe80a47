"""Run the Telegram bot by long polling, for machines without a public URL.

Each update goes through the same path as a webhook's (channels.pending.receive, then
channels.telegram_bot.handle): handled, or kept to be handled later. An update is confirmed
to Telegram (the next getUpdates offset) only once it was handled or kept.

`--account <slug>` polls a sender account's bot instead of TELEGRAM_BOT_TOKEN's: its updates
change only its subscriptions, and its replies go out from it.
"""

from __future__ import annotations

import json
import logging
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import SenderAccount
from channels import pending
from channels.telegram_bot import ALLOWED_UPDATES

from ._bots import Bot, bot_of

log = logging.getLogger(__name__)
PAUSE_AFTER_ERROR = 5.0


class BotAPIError(Exception):
    def __init__(self, reason: str, retry_after: float = PAUSE_AFTER_ERROR):
        super().__init__(reason)
        self.retry_after = retry_after


def call(client: httpx.Client, method: str, params: dict, bot: Bot | None = None) -> object:
    """One Bot API method's result, or BotAPIError; `bot`: whose (None: TELEGRAM_BOT_TOKEN's)."""
    base_url, token = (bot.api_url, bot.token) if bot else (settings.TELEGRAM_API_URL, settings.TELEGRAM_BOT_TOKEN)
    url = f"{base_url}{token}/{method}"
    try:
        response = client.post(url, json={k: v for k, v in params.items() if v is not None})
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise BotAPIError(f"{method}: {exc!r}") from exc
    if not isinstance(answer, dict) or not answer.get("ok"):
        description = answer.get("description") if isinstance(answer, dict) else None
        retry_after = ((answer.get("parameters") or {}) if isinstance(answer, dict) else {}).get("retry_after")
        raise BotAPIError(f"{method}: HTTP {response.status_code} {description}",
                          float(retry_after) if isinstance(retry_after, int | float) else PAUSE_AFTER_ERROR)
    return answer.get("result")


def receive_all(updates: list, account: SenderAccount | None = None) -> int | None:
    """Hand each update to the webhook's path, in order, for `account` (None: the default
    bot); the offset that confirms what was handled or kept (None: nothing was)."""
    offset = None
    for update in updates:
        update_id = update.get("update_id") if isinstance(update, dict) else None
        try:
            pending.receive("telegram", json.dumps(update).encode(), account)
        except pending.NotKept:
            break  # not confirmed: Telegram gives it again
        if isinstance(update_id, int):
            offset = update_id + 1
    return offset


class Command(BaseCommand):
    help = "Answer /start, /stop, /help and blocks by long polling (no webhook needed). Ctrl-C stops."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Handle the updates waiting now, then exit.")
        parser.add_argument("--timeout", type=int, default=30, help="Seconds one getUpdates waits for news.")
        parser.add_argument("--account", metavar="SLUG",
                            help="The slug of a Telegram sender account to poll (default: TELEGRAM_BOT_TOKEN's bot).")

    def handle(self, *args, once: bool, timeout: int, account: str | None = None, **options) -> None:
        bot = bot_of(account) if account else None
        if bot is None and not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: the bot has nothing to poll")
        wait = 0 if once else timeout
        with httpx.Client(timeout=wait + 10.0) as client:
            try:
                # getUpdates is refused while a webhook is set; pending updates are kept.
                call(client, "deleteWebhook", {"drop_pending_updates": False}, bot)
            except BotAPIError as exc:
                raise CommandError(f"Telegram refused to remove the webhook: {exc}") from exc
            self.stdout.write("Polling Telegram for updates (the webhook, if any, was removed). Ctrl-C stops.")
            offset = None
            while True:
                try:
                    updates = call(client, "getUpdates",
                                   {"offset": offset, "timeout": wait, "allowed_updates": ALLOWED_UPDATES}, bot)
                except BotAPIError as exc:
                    if once:
                        raise CommandError(str(exc)) from exc
                    log.warning("telegram polling: %s; trying again in %.0f s", exc, exc.retry_after)
                    time.sleep(exc.retry_after)
                    continue
                handled = receive_all(updates if isinstance(updates, list) else [], bot.account if bot else None)
                offset = handled if handled is not None else offset
                if once:
                    if offset is not None:  # confirm what was handled, without waiting
                        call(client, "getUpdates", {"offset": offset, "timeout": 0, "limit": 1,
                                                    "allowed_updates": ALLOWED_UPDATES}, bot)
                    return
                if handled is None and updates:
                    time.sleep(PAUSE_AFTER_ERROR)  # nothing could be kept: the database is away
