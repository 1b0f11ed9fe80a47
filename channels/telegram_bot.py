"""The brand's Telegram bot: /start [payload], /stop, /help and my_chat_member, through
python-telegram-bot's handlers; fed by the webhook or by long polling."""

from __future__ import annotations

import asyncio
import logging
import threading

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, transaction
from telegram import Update
from telegram.constants import ChatMemberStatus
from telegram.ext import Application, ChatMemberHandler, CommandHandler, ContextTypes

from campaigns import services
from campaigns.models import Subscription

from . import inbound

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "my_chat_member"]


def _handled(update: Update, work):
    """Run `work` once per update_id, in one transaction with the record of it."""

    def run():
        close_old_connections()
        try:
            with transaction.atomic():
                if not inbound.first_time("telegram", f"update:{update.update_id}"):
                    return None
                return work()
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False)()


def _person(update: Update) -> dict:
    user = update.effective_user
    return {
        "user_id": user.id if user else None,
        "username": user.username if user else None,
        "language_code": user.language_code if user else None,
    }


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    payload = context.args[0] if context.args else ""
    name = " ".join(p for p in (user.first_name, user.last_name) if p) if user else ""

    def work():
        return services.person_opt_in(
            "telegram", str(update.effective_chat.id), name=name, language=user.language_code if user else None,
            consent=services.Consent(source="telegram_start", text=inbound.CONSENT_TEXT["telegram"],
                                     evidence={"payload": payload, **_person(update)}),
        )

    change = await _handled(update, work)
    if change is None:
        return
    language = user.language_code if user and user.language_code else change.language
    await update.effective_message.reply_text(inbound.text("welcome" if change.changed else "already", language))


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    def work():
        return services.person_opt_out("telegram", str(update.effective_chat.id), consent=services.Consent(
            source="telegram_stop", text="/stop", evidence=_person(update)))

    change = await _handled(update, work)
    if change is None:
        return
    user = update.effective_user
    language = user.language_code if user and user.language_code else change.language
    await update.effective_message.reply_text(inbound.text("stopped", language))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    await update.effective_message.reply_text(inbound.text("help", user.language_code if user else None))


async def chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Blocking the bot arrives as my_chat_member with the new status `kicked`."""
    member = update.my_chat_member
    if member is None or member.new_chat_member.status != ChatMemberStatus.BANNED:
        return

    def work():
        return services.person_opt_out("telegram", str(member.chat.id), status=Subscription.Status.BLOCKED,
                                       consent=services.Consent(source="telegram_blocked", text="blocked the bot",
                                       evidence={"from": member.from_user.id if member.from_user else None}))

    await _handled(update, work)


def build_application(*, polling: bool = False) -> Application:
    """The bot's handlers on an Application; fed by the webhook, or polling for updates."""
    builder = Application.builder().token(settings.TELEGRAM_BOT_TOKEN).base_url(settings.TELEGRAM_API_URL)
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("stop", stop))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(ChatMemberHandler(chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    return application


class WebhookRunner:
    """One initialized Application per web process, on an event loop in its own thread;
    a webhook request hands it an update and waits for its handlers to finish."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="telegram-bot", daemon=True).start()
        self.application = build_application()
        self._call(self.application.initialize())

    def _call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def process(self, data: dict) -> None:
        update = Update.de_json(data, self.application.bot)
        self._call(self.application.process_update(update))


_runner: WebhookRunner | None = None
_runner_lock = threading.Lock()


def webhook_runner() -> WebhookRunner:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = WebhookRunner()
        return _runner
