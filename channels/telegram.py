"""Telegram through python-telegram-bot 22: one event loop and one Bot per list."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from .aio import LoopSession
from .base import (
    ChannelError,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    Uncertain,
)


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def error_from(exc: TelegramError) -> ChannelError:
    """Telegram's error in our terms (shared/PLATFORMS.md). Order matters: BadRequest and
    TimedOut are NetworkErrors."""
    message = exc.message if hasattr(exc, "message") else str(exc)
    if isinstance(exc, RetryAfter):
        return RateLimited(message, _retry_after_seconds(exc))
    if isinstance(exc, Forbidden):
        status = "blocked" if "blocked" in message.lower() else "unreachable"
        return RecipientGone(f"Forbidden: {message}", status)
    if isinstance(exc, BadRequest):
        if "chat not found" in message.lower() or "user not found" in message.lower():
            return RecipientGone(f"Bad Request: {message}", "unreachable")
        return PermanentFailure(f"Bad Request: {message}")
    if isinstance(exc, TimedOut):
        if "pool timeout" in message.lower():
            return TemporaryFailure(message)  # never left this process
        return Uncertain(f"no answer from Telegram ({message})")
    if isinstance(exc, NetworkError):
        return TemporaryFailure(f"network: {message}")
    return PermanentFailure(message)


def _markup(buttons: list[dict]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], url=b["url"])] for b in buttons])


class TelegramSession(LoopSession):
    def __init__(self, token: str, base_url: str, *, max_in_flight: int, timeout: float):
        request = HTTPXRequest(
            connection_pool_size=max_in_flight,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=min(timeout, 10.0),
            pool_timeout=timeout,
        )
        self._bot = Bot(token, base_url=base_url, request=request)
        super().__init__()

    async def _open(self) -> None:
        await self._bot.initialize()

    async def _close(self) -> None:
        await self._bot.shutdown()

    async def _send_one(self, message: OutboundMessage) -> Outcome:
        try:
            sent = await self._bot.send_message(
                chat_id=int(message.address), text=message.text, reply_markup=_markup(message.buttons)
            )
        except TelegramError as exc:
            return Outcome(message.delivery_id, error=error_from(exc))
        return Outcome(message.delivery_id, platform_message_id=str(sent.message_id))


class TelegramChannel:
    per_request = 1
    platform = "telegram"
    sandbox = False

    def __init__(self, token: str, base_url: str, *, max_in_flight: int = 100, timeout: float = 20.0):
        self._token = token
        self._base_url = base_url
        self._max_in_flight = max_in_flight
        self._timeout = timeout

    def open(self) -> TelegramSession:
        return TelegramSession(self._token, self._base_url, max_in_flight=self._max_in_flight, timeout=self._timeout)
