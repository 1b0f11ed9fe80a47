"""Telegram through python-telegram-bot 22: one event loop and one Bot per list, its calls
carried by StreamRequest (telegram_http.py: HTTP/1.1 keep-alive on asyncio streams; uploads
through httpx)."""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from telegram import (
    Bot,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from .aio import LoopSession, unexpected
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
from .media import account_key, known_upload, media_bytes, remember_upload, upload_lock
from .telegram_http import NotSent, request_for
from .transport import NOT_SENT

# httpx errors raised before a byte of the request reached Telegram. PTB 22 wraps them
# (telegram/request/_httpxrequest.py): PoolTimeout and ConnectTimeout as TimedOut, the
# others as NetworkError("httpx.<Name>: ..."), each `from` the httpx error. StreamRequest
# raises its own the same way, `from` NotSent (its pool timeout: "Pool timeout: ...").
_NOT_SENT_MESSAGES = ("httpx.ConnectError:", "httpx.ConnectTimeout:", "httpx.PoolTimeout:", "Pool timeout:")
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _never_left(exc: NetworkError) -> bool:
    """True when the request provably never reached Telegram (connect error or timeout, pool timeout)."""
    return isinstance(exc.__cause__, (*NOT_SENT, NotSent)) or exc.message.startswith(_NOT_SENT_MESSAGES)


def _not_json(exc: TelegramError) -> bool:
    """True when the answer was not Telegram's JSON (a proxy's page, a cut body): PTB raises
    its error `from` the failed parse (TelegramError("Invalid server response") from ValueError)."""
    cause = exc.__cause__
    return isinstance(cause, ValueError) or (isinstance(cause, TelegramError) and isinstance(cause.__cause__, ValueError))


def error_from(exc: TelegramError, *, paid: bool = False) -> ChannelError:
    """Telegram's error in our terms (shared/PLATFORMS.md). Order matters: BadRequest and
    TimedOut are NetworkErrors.

    `paid`: the message was a paid broadcast. A Bad Request about it that is not about the
    person is about our bot (not eligible, or its Stars ran out: Telegram documents neither
    the rule nor the words, PLATFORMS.md says to let the API answer): the rows wait and the
    campaign says why, rather than everyone failing."""
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
        if paid:
            return AccountRefused(f"Telegram refuses the paid broadcast: Bad Request: {message}")
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
    return InlineKeyboardMarkup([[_button(b)] for b in buttons])


def _button(button: dict) -> InlineKeyboardButton:
    """A link button, or a copy-to-clipboard one (Bot API 7.11) for {"text", "copy_text"}."""
    if "copy_text" in button:
        return InlineKeyboardButton(button["text"], copy_text=CopyTextButton(button["copy_text"]))
    return InlineKeyboardButton(button["text"], url=button["url"])


# Media kind -> (Bot method, the attribute of the sent Message that holds the file)
_MEDIA_METHODS = {"image": ("send_photo", "photo"), "video": ("send_video", "video"),
                  "document": ("send_document", "document")}


def _media_input(media: dict) -> str:
    """Media Telegram fetches itself: its URL (a stored file goes through `_send_stored`)."""
    return media.get("url") or media["public_url"]


class TelegramSession(LoopSession):
    def __init__(self, token: str, base_url: str, *, max_in_flight: int, timeout: float):
        request = request_for(
            base_url,
            connection_pool_size=max_in_flight,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=min(timeout, 10.0),
            pool_timeout=timeout,
        )
        self._bot = Bot(token, base_url=base_url, request=request)
        self._account = account_key(token)  # media file_ids belong to this bot
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
        if message.media:
            return (await self._send_media(message, _media_input(message.media)))[0]
        try:
            sent = await self._bot.send_message(
                chat_id=int(message.address), text=message.text, reply_markup=_markup(message.buttons),
                allow_paid_broadcast=message.paid_broadcast or None,  # None: not sent at all
                protect_content=message.protect_content or None,  # a VIP offer: no forwarding or saving
            )
        except TelegramError as exc:
            return Outcome(message.delivery_id, error=error_from(exc, paid=message.paid_broadcast))
        return Outcome(message.delivery_id, platform_message_id=str(sent.message_id))

    async def _send_media(self, message: OutboundMessage, file: InputFile | str) -> tuple[Outcome, str | None]:
        """sendPhoto, sendVideo or sendDocument with the text as caption; the outcome and
        the file_id Telegram gave the file."""
        method, attribute = _MEDIA_METHODS[message.media["kind"]]
        try:
            sent = await getattr(self._bot, method)(
                int(message.address), file, caption=message.text or None, reply_markup=_markup(message.buttons),
                allow_paid_broadcast=message.paid_broadcast or None,
                protect_content=message.protect_content or None)
        except TelegramError as exc:
            return Outcome(message.delivery_id, error=error_from(exc, paid=message.paid_broadcast)), None
        found = getattr(sent, attribute)
        found = found[-1] if isinstance(found, tuple) and found else found  # photo: sizes, largest last
        file_id = getattr(found, "file_id", None)
        return Outcome(message.delivery_id, platform_message_id=str(sent.message_id)), file_id

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        """Text and media by URL at once; a stored file is uploaded once per bot and then
        sent by its file_id (when none is known yet, the first message goes alone)."""
        stored = [i for i, m in enumerate(messages) if m.media and m.media.get("path")]
        if not stored:
            return super().send(messages)
        outcomes: list[Outcome | None] = [None] * len(messages)
        by_file: dict[str, list[int]] = {}
        for i in stored:
            by_file.setdefault(messages[i].media["sha256"], []).append(i)
        others = [i for i in range(len(messages)) if i not in set(stored)]
        if others:
            for i, o in zip(others, super().send([messages[i] for i in others]), strict=True):
                outcomes[i] = o
        for indexes in by_file.values():
            batch = [messages[i] for i in indexes]
            for i, o in zip(indexes, self._send_stored(batch), strict=True):
                outcomes[i] = o
        return outcomes  # type: ignore[return-value]

    def _send_stored(self, batch: list[OutboundMessage]) -> list[Outcome]:
        media = batch[0].media
        sha256 = media["sha256"]
        first: list[Outcome] = []
        rest = list(batch)
        file_id = known_upload("telegram", self._account, sha256)
        if file_id is None:
            with upload_lock("telegram", self._account, sha256):
                file_id = known_upload("telegram", self._account, sha256)
                if file_id is None:
                    data = media_bytes(media)
                    # Upload with one message at a time until Telegram takes one (a blocked
                    # person's refusal says nothing about the file).
                    while rest and file_id is None:
                        upload = InputFile(data, filename=media.get("name") or None)
                        outcome, file_id = self._loop.run_until_complete(self._send_media(rest.pop(0), upload))
                        first.append(outcome)
                        if file_id is None and not isinstance(outcome.error, RecipientGone):
                            break
                    if file_id is not None:
                        file_id = remember_upload("telegram", self._account, sha256, file_id)
        if file_id is None:  # not sent at all: they wait for the next try
            return first + [Outcome(m.delivery_id, error=TemporaryFailure(
                "not sent: the file was not uploaded to Telegram yet")) for m in rest]
        if rest:
            first += self._loop.run_until_complete(self._send_by_id(rest, file_id))
        return first

    async def _send_by_id(self, messages: list[OutboundMessage], file_id: str | None) -> list[Outcome]:
        async def one(message: OutboundMessage) -> Outcome:
            return (await self._send_media(message, file_id))[0]

        results = await asyncio.gather(*(one(m) for m in messages), return_exceptions=True)
        return [Outcome(m.delivery_id, error=unexpected(r)) if isinstance(r, BaseException) else r
                for m, r in zip(messages, results, strict=True)]


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

    def star_balance(self) -> Decimal:
        """The bot's Telegram Stars (getMyStarBalance), before a paid broadcast is scheduled."""
        from .telegram_stars import star_balance  # it imports this module

        return star_balance(self._token, self._base_url, timeout=min(self._timeout, 10.0))
