"""What people write to our bots, as words: replies in their language, stop and start
keywords, the consent wording shown; the record of callbacks already handled; how a
callback's JSON is read (sanitised, with its dates checked); and the replies we send back.

Every webhook handler runs in one transaction that first records the callback's key
(InboundEvent), so a repeated callback changes nothing the second time. What a callback
means for consent and the ledger is decided in campaigns.services and campaigns.delivery.
A reply is never sent while a callback is handled: it is enqueued when the transaction
commits and sent by a Celery task (channels.tasks.send_reply), from the sender account the
person wrote to and in that account's shared rate limit, so that an unreachable platform can
never lose an opt-out.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.logs import masked, masked_digits

from .base import RateLimited, TemporaryFailure
from .models import InboundEvent
from .ratelimit import limiter_from_settings

if TYPE_CHECKING:
    from campaigns.models import SenderAccount

log = logging.getLogger(__name__)

TEXTS = {
    "welcome": {
        "en": "You are subscribed to our offers. Send /stop at any time to unsubscribe.",
        "ru": "Вы подписались на наши предложения. Чтобы отписаться, отправьте /stop в любой момент.",
    },
    "already": {
        "en": "You are already subscribed. Send /stop to unsubscribe.",
        "ru": "Вы уже подписаны. Чтобы отписаться, отправьте /stop.",
    },
    "stopped": {
        "en": "You are unsubscribed and will get no more messages from us. Send /start to subscribe again.",
        "ru": "Вы отписались и больше не будете получать от нас сообщений. Чтобы подписаться снова, отправьте /start.",
    },
    "help": {
        "en": "We send offers to people who asked for them. /start subscribes, /stop unsubscribes.",
        "ru": "Мы присылаем предложения тем, кто на них подписался. /start — подписаться, /stop — отписаться.",
    },
    "wa_stopped": {
        "en": "You are unsubscribed and will get no more offers. Reply START to subscribe again.",
        "ru": "Вы отписались и больше не будете получать предложения. Чтобы подписаться снова, ответьте СТАРТ.",
    },
    "wa_started": {
        "en": "You are subscribed to our offers. Reply STOP at any time to unsubscribe.",
        "ru": "Вы подписались на наши предложения. Чтобы отписаться, ответьте СТОП в любой момент.",
    },
    "viber_welcome": {
        "en": "Welcome! Press Subscribe to get our offers. You can unsubscribe at any time.",
        "ru": "Добро пожаловать! Нажмите «Подписаться», чтобы получать наши предложения. Отписаться можно в любой момент.",
    },
}
# The wording a person is shown BEFORE subscribing through a platform, stored with their
# opt-in as proof (ConsentEvent.text): on Telegram the bot's description above the Start
# button (manage.py telegram_set_webhook sets it), on Viber the welcome message shown with
# Subscribe, on WhatsApp the invitation to write START (publish the same words with the
# number). TACT_CONSENT_TEXT_<PLATFORM>_<LANG> (EN, RU) replaces each; README lists them.
CONSENT_TEXT = {
    "telegram": {
        "en": "We send our offers to people who ask for them. Press Start to subscribe; "
              "send /stop at any time to unsubscribe.",
        "ru": "Мы присылаем наши предложения тем, кто о них просит. Нажмите «Старт», чтобы подписаться; "
              "чтобы отписаться, отправьте /stop в любой момент.",
    },
    "whatsapp": {
        "en": "Write START to our WhatsApp number to get our offers. Reply STOP at any time to unsubscribe.",
        "ru": "Напишите СТАРТ на наш номер WhatsApp, чтобы получать наши предложения. "
              "Чтобы отписаться, ответьте СТОП в любой момент.",
    },
    "viber": TEXTS["viber_welcome"],
}
LANGUAGES = ("en", "ru")
# Telegram shows a bot's description in the app's language: these see the Russian one.
RUSSIAN_CODES = ("ru", "uk", "be", "kk")


def language_of(code: str | None) -> str:
    return "ru" if (code or "").lower().startswith(RUSSIAN_CODES) else "en"


def consent_text(platform: str, language: str | None) -> str:
    """The invitation shown before subscribing on `platform`, in the person's language."""
    lang = language_of(language)
    return settings.TACT_CONSENT_TEXT.get(f"{platform}_{lang}") or CONSENT_TEXT[platform][lang]


def text(key: str, language: str | None) -> str:
    return TEXTS[key][language_of(language)]


STOP_WORDS = {"stop", "стоп", "отписаться", "unsubscribe", "stop promotions", "отписка"}
START_WORDS = {"start", "старт", "подписаться", "subscribe"}
_NOT_WORD = re.compile(r"[^\w\s]+")


def keyword(body: str) -> str:
    """An inbound text reduced to its command: case, spaces and punctuation dropped."""
    return " ".join(_NOT_WORD.sub(" ", body.casefold()).split())


def event_key(key: str, account: SenderAccount | None = None) -> str:
    """A callback's key as recorded: a sender account's own keys start with "@<its id>:"
    (two bots count their update_ids each from its own start); the default account's as
    they always were."""
    return key if account is None else f"@{account.pk}:{key}"


def first_time(platform: str, key: str, account: SenderAccount | None = None) -> bool:
    """Record this callback (to `account`, None: the default one); False when it was handled
    before. Call inside the transaction that handles it, so a failure un-records it and the
    platform's retry is handled."""
    try:
        with transaction.atomic():
            InboundEvent.objects.create(platform=platform, key=event_key(key, account)[:200])
    except IntegrityError:
        return False
    return True


# --- reading a callback -------------------------------------------------------------


class Malformed(ValueError):
    """Not the platform's format, or a field is missing: this can never be handled."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(value: object) -> object:
    """`value` with every string fit to store: NUL dropped (PostgreSQL refuses it in text
    and JSON), lone surrogates (\\ud800 in JSON; not UTF-8) replaced by U+FFFD."""
    if isinstance(value, str):
        # json.loads joins a valid surrogate pair into one character: any left is alone.
        return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


# No platform nests its payload half as deep; deeper would exhaust the recursion of clean()
# or of the JSON encoder while storing evidence, a failure no retry can pass.
MAX_DEPTH = 32


def _deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests objects or lists more than `limit` levels (without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def parse(body: bytes) -> dict:
    """A callback's body as a sanitised JSON object, or Malformed."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise Malformed(f"a JSON {type(data).__name__}, not an object")
        if _deeper_than(data, MAX_DEPTH):
            raise Malformed(f"JSON nested deeper than {MAX_DEPTH} levels")
        return clean(data)
    except RecursionError as exc:  # nested deeper than any platform's payload
        raise Malformed("JSON nested too deep") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, Malformed):
            raise
        raise Malformed(f"not JSON: {exc}") from exc


def need(container: object, key: str, kind: type | tuple[type, ...] = str) -> object:
    """container[key], which must be a `kind` (and not empty); Malformed otherwise."""
    value = container.get(key) if isinstance(container, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) or value in ("", {}):
        raise Malformed(f"{key!r} missing or not {getattr(kind, '__name__', kind)}: {value!r}")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def moment(value: object, *, per_second: int = 1) -> datetime:
    """A platform's timestamp (seconds; milliseconds with per_second=1000) as a time to
    record: now when it is missing, before 2000 or in the future; Malformed when it is
    not a number."""
    now = timezone.now()
    if value is None or value == "":
        return now
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Malformed(f"timestamp {value!r} is not a number")
    try:
        seconds = float(value) / per_second
    except ValueError as exc:
        raise Malformed(f"timestamp {value!r} is not a number") from exc
    if math.isnan(seconds):
        raise Malformed(f"timestamp {value!r} is not a number")
    try:
        at = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return now  # centuries away: no platform's clock
    return now if at < EARLIEST or at > now else at


# --- replies ------------------------------------------------------------------------


def reply_later(platform: str, address: str, text: str, account: SenderAccount | None = None) -> None:
    """Send `text` to `address` once the current transaction commits, from a task on the
    platform's queue, from `account` (the bot or number the person wrote to; None: the
    default one); a broker that cannot take it is logged (the opt-out is committed)."""
    from .tasks import send_reply

    # The account goes as its id, and only when there is one: the default account's task is
    # exactly what it was before sender accounts.
    args = (platform, address, text) if account is None else (platform, address, text, account.pk)

    def enqueue() -> None:
        # argsrepr: what Celery logs and shows to monitors instead of the address and text.
        send_reply.apply_async(args, queue=platform,
                               argsrepr=repr((platform, masked(address), f"<{len(text)} characters>", *args[3:])))

    transaction.on_commit(enqueue, robust=True)


def reply_send(*, platform: str, address: str, text: str, account_id: int | None = None) -> None:
    """Send one reply now from the sender account `account_id` (None: the platform's default
    account), after taking a slot of that account's shared rate limit.

    Raises TemporaryFailure or RateLimited when nothing was sent and it may be tried
    again; any other failure (the person is gone, no answer, the account deleted or made
    inactive meanwhile) is logged, never resent."""
    from campaigns import accounts
    from campaigns.models import SenderAccount

    account = None
    if account_id is not None:
        account = SenderAccount.objects.filter(pk=account_id).first()
        if account is None:
            log.warning("%s reply to %s not sent: sender account %s no longer exists", platform, masked(address),
                        account_id)
            return
    try:
        channel = accounts.channel(platform, account)
    except accounts.AccountUnavailable as exc:
        log.warning("%s reply to %s not sent: %s", platform, masked(address), exc)
        return
    rate = None if channel.sandbox else accounts.rate(platform, account)
    limiter = limiter_from_settings() if rate else None
    key = accounts.limiter_key(platform, account)
    try:
        session = channel.open()
    except Exception as exc:  # unreachable, or refusing us: nothing was sent
        raise TemporaryFailure(f"cannot connect to {platform}: {exc!r}") from exc
    try:
        if limiter is not None:
            wait = limiter.reserve(key, 1, rate)
            if wait > 0:
                time.sleep(wait)
        outcome = session.reply(address, text)
    finally:
        session.close()
    error = outcome.error
    if error is None:
        return
    if isinstance(error, RateLimited):
        if limiter is not None and not error.per_recipient:
            limiter.block(key, error.retry_after)
        raise error
    if isinstance(error, TemporaryFailure):
        raise error
    log.warning("%s reply to %s not sent: %s", platform, masked(address), masked_digits(error.reason))
