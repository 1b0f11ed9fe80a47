"""The brand's Telegram bot: /start [payload], /stop, /help, blocking (my_chat_member) and
the reaction counts of the brand channels' posts (message_reaction_count),
read straight from the update's JSON with no call to the Bot API, so that an unreachable
API can never lose an update. The webhook and long polling (manage.py telegram_poll) both
hand updates to `handle`, through channels.pending. Commands act only in private chats:
in a group or a channel they subscribe nobody. Replies are sent later by a Celery task.

An update to a sender account of its own (its webhook path, or telegram_poll --account)
changes only that bot's subscriptions and is answered from that bot. Brand channels are
posted by the default bot: a channel's updates to another bot change nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction

from campaigns import fatigue, services
from campaigns.logs import masked
from campaigns.models import Subscription
from campaigns.services.brand_channels import channel_rights_changed
from campaigns.services.channel_results import publication_reactions_record

from . import inbound
from .inbound import Malformed, need

if TYPE_CHECKING:
    from campaigns.models import SenderAccount

log = logging.getLogger(__name__)
# message_reaction_count: a channel post's reaction counts, sent to the bot as the channel's
# administrator (only when asked for here: Telegram leaves it out by default).
ALLOWED_UPDATES = ["message", "my_chat_member", "message_reaction_count"]
COMMANDS = ("start", "stop", "help")


def handle(data: dict, account: SenderAccount | None = None) -> None:
    """Handle one update (a parsed, sanitised JSON object) to `account` (None: the default
    bot); Malformed when it is not one."""
    update_id = need(data, "update_id", int)
    if "message" in data:
        _message(update_id, need(data, "message", dict), account)
    elif "my_chat_member" in data:
        _chat_member(update_id, need(data, "my_chat_member", dict), account)
    elif "message_reaction_count" in data:
        if account is not None:  # brand channels are the default bot's
            log.info("telegram reaction counts to bot %s ignored: brand channels are the default bot's", account.slug)
            return
        _reaction_count(update_id, need(data, "message_reaction_count", dict))
    else:
        log.info("telegram update %s of another kind ignored", update_id)


def command_of(text: str) -> tuple[str, list[str]]:
    """("start", ["vip"]) for "/start vip" or "/start@OurBot vip"; ("", []) for no command."""
    words = text.split()
    if not words or not words[0].startswith("/"):
        return "", []
    name = words[0][1:].partition("@")[0].lower()
    return name, words[1:]


def _person(user: dict) -> dict:
    return {"user_id": user.get("id"), "username": user.get("username"), "language_code": user.get("language_code")}


def _text(user: dict, key: str) -> str:
    value = user.get(key)
    return value if isinstance(value, str) else ""


def _message(update_id: int, message: dict, account: SenderAccount | None = None) -> None:
    chat = need(message, "chat", dict)
    chat_id, chat_type = need(chat, "id", int), need(chat, "type", str)
    text = message.get("text")
    command, args = command_of(text) if isinstance(text, str) else ("", [])
    if chat_type == "private":  # any message from the person is a reply: the fatigue guard starts again
        fatigue.address_answered("telegram", str(chat_id))
    if command not in COMMANDS:
        return  # not a command of ours: nothing to record
    if chat_type != "private":
        log.info("telegram /%s in %s chat %s ignored: commands act in private chats only", command, chat_type,
                 masked(chat_id))
        return
    user = message.get("from") if isinstance(message.get("from"), dict) else {}
    at = inbound.moment(message.get("date"))
    language = _text(user, "language_code") or None
    address = str(chat_id)
    with transaction.atomic():
        if not inbound.first_time("telegram", f"update:{update_id}", account):
            return
        if command == "start":
            name = " ".join(p for p in (_text(user, "first_name"), _text(user, "last_name")) if p)
            change = services.person_opt_in(
                "telegram", address, name=name, language=language, account=account, consent=services.Consent(
                    source="telegram_start", text=inbound.consent_text("telegram", language), at=at,
                    evidence={"payload": args[0] if args else "", **_person(user)}))
            if change.opted_in:  # not an old /start that a later /stop overrides
                reply = inbound.text("welcome" if change.changed else "already", language or change.language)
                inbound.reply_later("telegram", address, reply, account)
        elif command == "stop":
            change = services.person_opt_out("telegram", address, account=account, consent=services.Consent(
                source="telegram_stop", text="/stop", evidence=_person(user), at=at))
            inbound.reply_later("telegram", address, inbound.text("stopped", language or change.language), account)
        else:
            inbound.reply_later("telegram", address, inbound.text("help", language), account)


def _chat_member(update_id: int, member: dict, account: SenderAccount | None = None) -> None:
    """Blocking the bot arrives as my_chat_member with the new status "kicked"; unblocking
    ("member") is no consent: /start is."""
    chat = need(member, "chat", dict)
    chat_id, chat_type = need(chat, "id", int), need(chat, "type", str)
    new = need(member, "new_chat_member", dict)
    status = need(new, "status", str)
    if chat_type == "channel" and account is not None:
        log.info("telegram bot %s's status in channel %s is now %r (brand channels are the default bot's)",
                 account.slug, masked(chat_id), status)
        return
    if chat_type == "channel":  # a brand channel: the bot's rights to post there changed
        username = chat.get("username") if isinstance(chat.get("username"), str) else ""
        marked = channel_rights_changed(chat_id=chat_id, username=username, status=status,
                                        can_post_messages=new.get("can_post_messages") is True,
                                        at=inbound.moment(member.get("date")))
        log.info("telegram bot's status in channel %s is now %r (%s brand channel(s) updated)", masked(chat_id),
                 status, marked)
        return
    if chat_type != "private":
        log.info("telegram bot's status in %s chat %s is now %r", chat_type, masked(chat_id), status)
        return
    if status != "kicked":
        log.info("telegram chat %s: the bot's status is now %r (no consent change)", masked(chat_id), status)
        return
    user = member.get("from") if isinstance(member.get("from"), dict) else {}
    at = inbound.moment(member.get("date"))
    with transaction.atomic():
        if not inbound.first_time("telegram", f"update:{update_id}", account):
            return
        services.person_opt_out(
            "telegram", str(chat_id), status=Subscription.Status.BLOCKED, account=account, consent=services.Consent(
                source="telegram_blocked", text="blocked the bot", evidence={"from": user.get("id")}, at=at))


def reaction_counts(reactions: object) -> dict[str, int]:
    """MessageReactionCountUpdated.reactions as {"👍": 12, "custom:<id>": 3, "paid": 5}."""
    if not isinstance(reactions, list):
        raise Malformed(f"reactions is not a list: {reactions!r}")
    counts: dict[str, int] = {}
    for reaction in reactions:
        kind = need(reaction, "type", dict)
        total = need(reaction, "total_count", int)
        if total < 0:
            raise Malformed(f"a negative total_count: {total!r}")
        name = need(kind, "type")
        if name == "emoji":
            key = need(kind, "emoji")
        elif name == "custom_emoji":
            key = f"custom:{need(kind, 'custom_emoji_id')}"
        else:  # "paid" (Telegram Stars), and kinds Telegram may add
            key = name
        counts[key] = counts.get(key, 0) + total
    return counts


def _reaction_count(update_id: int, update: dict) -> None:
    """A channel post's reaction counts: stored on its publication (channel, message_id) unless
    Tact has newer ones. A message that is no publication of ours is acknowledged and recorded
    nowhere (Telegram's next update of it carries the full counts again)."""
    chat = need(update, "chat", dict)
    chat_id, message_id = need(chat, "id", int), need(update, "message_id", int)
    need(update, "date", int)
    counts = reaction_counts(update.get("reactions"))
    username = chat.get("username") if isinstance(chat.get("username"), str) else ""
    stored = publication_reactions_record(
        chat_id=chat_id, username=username, message_id=message_id, counts=counts,
        at=inbound.moment(update.get("date")),
        record=lambda: inbound.first_time("telegram", f"update:{update_id}"))
    if not stored:
        log.info("telegram reaction counts of message %s in chat %s not stored (not ours, repeated or older)",
                 message_id, masked(chat_id))
