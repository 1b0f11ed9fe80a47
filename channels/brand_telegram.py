"""The brand's Telegram channel through python-telegram-bot 22: the bot posts there as an
administrator. One short event loop per call (a channel gets a few posts a day)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.utils.translation import gettext as _
from telegram import Bot, ChatMemberAdministrator, InputFile, Message
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.request import HTTPXRequest

from .base import AccountRefused, ChannelError, PermanentFailure
from .brand import ChannelCheck, ChannelPost, PostOutcome
from .media import account_key, known_upload, media_bytes, remember_upload, upload_lock
from .telegram import _MEDIA_METHODS, _markup, _media_input, error_from

T = TypeVar("T")
log = logging.getLogger(__name__)


def _chat_id(chat: str) -> str | int:
    """A channel's @username as is, a numeric id as a number."""
    chat = chat.strip()
    return int(chat) if chat.lstrip("-").isdigit() else chat


def not_admin(chat: str) -> str:
    return _("the bot is not an administrator of %(chat)s") % {"chat": chat}


def may_not_post() -> str:
    return _("the bot may not post messages")


def _refusal(exc: TelegramError, chat: str) -> ChannelError:
    """Telegram's error in our terms; the channel's own refusals (bot removed, no right to
    post, no such channel) stop posting there (AccountRefused) with words a marketer acts on."""
    message = exc.message.lower()
    if isinstance(exc, Forbidden):  # in a channel, any "Forbidden" is about the bot, never about a reader
        if "not a member" in message or "kicked" in message:
            return AccountRefused(not_admin(chat))
        return AccountRefused(_("Telegram forbids the bot to post in %(chat)s (%(error)s)")
                              % {"chat": chat, "error": exc.message})
    if isinstance(exc, BadRequest):
        if ("need administrator rights" in message or "not enough rights to send" in message
                or "have no rights to send" in message or "chat_write_forbidden" in message):
            return AccountRefused(may_not_post())
        if "chat not found" in message:
            return AccountRefused(_("no such channel"))
    return error_from(exc)


class TelegramBrandClient:
    """One Telegram channel, posted to by the installation's bot (TELEGRAM_BOT_TOKEN)."""

    def __init__(self, token: str, base_url: str, chat: str, *, timeout: float = 20.0):
        self._token = token
        self._base_url = base_url
        self._chat = chat
        self._timeout = timeout
        self._account = account_key(token)  # media file_ids belong to this bot

    def _run(self, work: Callable[[Bot], Awaitable[T]]) -> T:
        async def run() -> T:
            request = HTTPXRequest(read_timeout=self._timeout, write_timeout=self._timeout,
                                   connect_timeout=min(self._timeout, 10.0), pool_timeout=self._timeout)
            async with Bot(self._token, base_url=self._base_url, request=request) as bot:  # getMe, then shutdown
                return await work(bot)

        return asyncio.run(run())

    def check(self) -> ChannelCheck:
        """getChat (a channel?), getChatMember of the bot (administrator with the right to
        post?), getChatMemberCount."""
        async def work(bot: Bot) -> ChannelCheck:
            chat = await bot.get_chat(_chat_id(self._chat))
            if chat.type != ChatType.CHANNEL:
                return ChannelCheck(title=chat.title or "", problem=_("%(chat)s is not a channel") % {"chat": self._chat})
            title = chat.title or ""
            subscribers = await bot.get_chat_member_count(chat.id)
            try:
                member = await bot.get_chat_member(chat.id, bot.id)
            except BadRequest:  # "member list is inaccessible": the bot is not an admin there
                member = None
            if not isinstance(member, ChatMemberAdministrator):
                return ChannelCheck(title, problem=not_admin(self._chat), subscribers=subscribers)
            if not member.can_post_messages:
                return ChannelCheck(title, problem=may_not_post(), subscribers=subscribers)
            return ChannelCheck(title, can_post=True, subscribers=subscribers)

        try:
            return self._run(work)
        except TelegramError as exc:
            return ChannelCheck(problem=_refusal(exc, self._chat).reason)
        except Exception as exc:  # a vendor surprise: say it on the channel rather than fail the page
            log.error("unexpected error while checking a Telegram channel", exc_info=exc)
            return ChannelCheck(problem=_("unexpected answer from Telegram (%(error)s)") % {"error": repr(exc)})

    def publish(self, post: ChannelPost) -> PostOutcome:
        """sendMessage, or sendPhoto/sendVideo/sendDocument with the text as caption; a stored
        file is uploaded once per bot and then sent by its file_id."""
        options = {"reply_markup": _markup(post.buttons), "disable_notification": post.silent,
                   "protect_content": post.protect_content}
        media = post.media
        if media is None:
            return self._send(lambda bot: bot.send_message(_chat_id(self._chat), post.text, **options))
        method, attribute = _MEDIA_METHODS[media["kind"]]

        def send(file: InputFile | str) -> Callable[[Bot], Awaitable[Message]]:
            return lambda bot: getattr(bot, method)(_chat_id(self._chat), file, caption=post.text or None, **options)

        if not media.get("path"):
            return self._send(send(_media_input(media)))
        sha256 = media["sha256"]
        if (file_id := known_upload("telegram", self._account, sha256)) is not None:
            return self._send(send(file_id))
        with upload_lock("telegram", self._account, sha256):
            if (file_id := known_upload("telegram", self._account, sha256)) is not None:
                return self._send(send(file_id))
            upload = InputFile(media_bytes(media), filename=media.get("name") or None)
            try:
                sent = self._run(send(upload))
            except TelegramError as exc:
                return PostOutcome(error=_refusal(exc, self._chat))
            found = getattr(sent, attribute)
            found = found[-1] if isinstance(found, tuple) and found else found  # photo: sizes, largest last
            if getattr(found, "file_id", None):
                remember_upload("telegram", self._account, sha256, found.file_id)
        return PostOutcome(message_id=str(sent.message_id))

    def _send(self, work: Callable[[Bot], Awaitable[Message]]) -> PostOutcome:
        try:
            sent = self._run(work)
        except TelegramError as exc:
            return PostOutcome(error=_refusal(exc, self._chat))
        return PostOutcome(message_id=str(sent.message_id))

    def pin(self, message_id: str) -> ChannelError | None:
        """pinChatMessage without notifying anyone (the post itself did)."""
        try:
            self._run(lambda bot: bot.pin_chat_message(_chat_id(self._chat), int(message_id),
                                                       disable_notification=True))
        except TelegramError as exc:
            return _refusal(exc, self._chat)
        except ValueError:
            return PermanentFailure(f"not a Telegram message id: {message_id!r}")
        return None

    def subscriber_count(self) -> int | None:
        """getChatMemberCount; None when Telegram does not say."""
        try:
            return self._run(lambda bot: bot.get_chat_member_count(_chat_id(self._chat)))
        except TelegramError:
            return None
