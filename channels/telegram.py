"""Telegram through python-telegram-bot 22: one event loop and one Bot per list."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from .transport import NOT_SENT
from .aio import LoopSession
from .base import (
    AccountRefused,
    ChannelError,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    Uncertain,
)

# httpx errors raised before a byte of the request reached Telegram. PTB 22 wraps them
# (telegram/request/_httpxrequest.py): PoolTimeout and ConnectTimeout as TimedOut, the
# others as NetworkError("httpx.<Name>: ..."), each `from` the httpx error.
_NOT_SENT_MESSAGES = ("httpx.ConnectError:", "httpx.ConnectTimeout:", "httpx.PoolTimeout:", "Pool timeout:")
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _never_left(exc: NetworkError) -> bool:
    """True when the request provably never reached Telegram (connect error or timeout, pool timeout)."""
    return isinstance(exc.__cause__, NOT_SENT) or exc.message.startswith(_NOT_SENT_MESSAGES)


def _not_json(exc: TelegramError) -> bool:
    """True when the answer was not Telegram's JSON (a proxy's page, a cut body): PTB raises
    its error `from` the failed parse (TelegramError("Invalid server response") from ValueError)."""
    cause = exc.__cause__
    return isinstance(cause, ValueError) or (isinstance(cause, TelegramError) and isinstance(cause.__cause__, ValueError))


def error_from(exc: TelegramError) -> ChannelError:
    """Telegram's error in our terms (shared/PLATFORMS.md). Order matters: BadRequest and
    TimedOut are NetworkErrors."""
    message = exc.message
    if isinstance(exc, RetryAfter):
        return RateLimited(message, _retry_after_seconds(exc))
    if isinstance(exc, InvalidToken):
        # PTB: 401 Unauthorized, or 404 Not Found on the /bot<token>/ path. Bot.initialize()
        # puts the token itself into its message: keep the server's words, never the token.
        cause = exc.__cause__
        detail = cause.message if isinstance(cause, InvalidToken) else message
        return AccountRefused(f"Telegram refused the bot token: {_TOKEN.sub('<token>', detail)}")
    if _not_json(exc):
        return Uncertain(f"no answer from Telegram; it may have been sent ({message[:200]})")
    if isinstance(exc, Forbidden):
        status = "blocked" if "blocked" in message.lower() else "unreachable"
        return RecipientGone(message if message.startswith("Forbidden") else f"Forbidden: {message}", status)
    if isinstance(exc, BadRequest):
        if "chat not found" in message.lower() or "user not found" in message.lower():
            return RecipientGone(f"Bad Request: {message}", "unreachable")
        return PermanentFailure(f"Bad Request: {message}")
    if isinstance(exc, NetworkError):
        if _never_left(exc):
            return TemporaryFailure(f"Telegram not reached: {message}")
        if message.startswith("Too Many Requests"):  # a 429 without parameters.retry_after
            return RateLimited(message, 1.0)
        # A 5xx, a read or write timeout, a reset or a dropped connection after the request
        # was written: Telegram may have sent it.
        return Uncertain(f"no answer from Telegram; it may have been sent ({message or type(exc).__name__})")
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
        """getMe; a refused token or an unreachable server raises our ChannelError."""
        try:
            await self._bot.initialize()
        except TelegramError as exc:
            await self._bot.shutdown()
            raise error_from(exc) from exc

    async def _close(self) -> None:
        await self._bot.shutdown()

    async def _reply(self, address: str, text: str) -> Outcome:
        return await self._send_one(OutboundMessage(0, address, text))

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
