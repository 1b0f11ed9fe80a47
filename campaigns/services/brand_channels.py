"""The brand's channels as records: add, change and check them (can Tact post there?).

The check asks the platform (channels/brand.py) outside any transaction; its answer is
stored on the channel: title, can_post, problem, subscribers, checked_at.
"""

from __future__ import annotations

import re
from datetime import datetime, time

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.brand import ChannelCheck, brand_client_for
from channels.brand_viber import bot_token_refusal, token_refused

from .. import rules
from ..models import BrandChannel
from ..rules import parse_timezone
from .errors import ServiceError

# What a person may set; `token` is write-only (empty on change: the stored one is kept).
FIELDS = ("platform", "chat", "token", "admin_id", "timezone", "max_posts_per_day", "min_gap_minutes",
          "night_start", "night_end", "night_policy")
# Telegram: a public channel's @username (5-32 letters, digits, underscores) or a numeric chat id.
_TELEGRAM_CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{5,20}")


def _problems(values: dict) -> dict[str, list[str]]:
    """Input the data does not allow, by field."""
    problems: dict[str, list[str]] = {}

    def refuse(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    platform = values.get("platform")
    if platform not in BrandChannel.Platform.values:
        refuse("platform", _("choose telegram or viber"))
    chat = str(values.get("chat") or "").strip()
    if not chat:
        refuse("chat", _("this field is required"))
    elif len(chat) > 255:
        refuse("chat", _("at most 255 characters"))
    elif platform == BrandChannel.Platform.TELEGRAM and not _TELEGRAM_CHAT.fullmatch(chat):
        refuse("chat", _("a channel's @username (such as @brand_news) or its numeric id (such as -1001234567890)"))
    if platform == BrandChannel.Platform.VIBER and values.get("token") and not values.get("admin_id"):
        refuse("admin_id", _("the id of the channel's admin who posts is required with a token"))
    for field in ("token", "admin_id"):
        if len(str(values.get(field) or "")) > 255:
            refuse(field, _("at most 255 characters"))
    if values.get("token") and not rules.is_token_text(str(values["token"])):
        refuse("token", _("a token has only visible ASCII characters (letters, digits, punctuation), no spaces"))
    if values.get("timezone"):
        try:
            parse_timezone(str(values["timezone"]))
        except ValueError as exc:
            refuse("timezone", str(exc))
    per_day = values.get("max_posts_per_day")
    if not isinstance(per_day, int) or isinstance(per_day, bool) or not 1 <= per_day <= 100:
        refuse("max_posts_per_day", _("a whole number from 1 to 100"))
    gap = values.get("min_gap_minutes")
    if not isinstance(gap, int) or isinstance(gap, bool) or not 0 <= gap <= 7 * 24 * 60:
        refuse("min_gap_minutes", _("a whole number of minutes from 0 to 10080 (a week)"))
    for field in ("night_start", "night_end"):
        if not isinstance(values.get(field), time):
            refuse(field, _("a time of day such as 22:00"))
    if values.get("night_policy") not in BrandChannel.NightPolicy.values:
        refuse("night_policy", _("choose silent or move"))
    return problems


def _token_problem(check: ChannelCheck) -> str | None:
    """A check's problem that is the token's fault (refused, or a bot's): refused on save."""
    if check.problem in (bot_token_refusal(), token_refused()):
        return check.problem
    return None


def _checked(channel: BrandChannel, *, now: datetime | None = None) -> ChannelCheck:
    """Ask the platform, and copy its answer onto the (unsaved) channel."""
    check = brand_client_for(channel).check()
    channel.title = check.title or channel.title
    channel.can_post = check.can_post
    channel.problem = check.problem
    channel.subscribers = check.subscribers if check.subscribers is not None else channel.subscribers
    channel.checked_at = now or timezone.now()
    return check


def channel_prepare(*, channel: BrandChannel, values: dict, now: datetime | None = None) -> BrandChannel:
    """Validate `values` (every field of FIELDS), set them on `channel` and check it on its
    platform, without saving; ServiceError by field for bad input or a token that is not a
    channel's (the admin's form calls this from its clean())."""
    problems = _problems(values)
    if problems:
        raise ServiceError(problems)
    for field in FIELDS:
        setattr(channel, field, values[field].strip() if isinstance(values[field], str) else values[field])
    check = _checked(channel, now=now)
    if (problem := _token_problem(check)) is not None:
        raise ServiceError({"token": [problem]})
    return channel


def _save(channel: BrandChannel, values: dict, *, now: datetime | None) -> BrandChannel:
    channel_prepare(channel=channel, values=values, now=now)
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise ServiceError({"chat": [_("this channel is already added")]}) from None
    return channel


def _defaults() -> dict:
    return {f: BrandChannel._meta.get_field(f).get_default() for f in FIELDS}


def channel_add(*, values: dict, now: datetime | None = None) -> BrandChannel:
    """A new channel, checked on the platform; 400-worthy ServiceError by field for bad input
    or a token that is not a channel's."""
    merged = {**_defaults(), **{k: v for k, v in values.items() if k in FIELDS}}
    if BrandChannel.objects.filter(platform=merged.get("platform"), chat=str(merged.get("chat") or "").strip()).exists():
        raise ServiceError({"chat": [_("this channel is already added")]})
    return _save(BrandChannel(), merged, now=now)


def channel_update(*, channel: BrandChannel, values: dict, now: datetime | None = None) -> BrandChannel:
    """Change a channel and check it again; an empty or missing token keeps the stored one."""
    merged = {f: getattr(channel, f) for f in FIELDS}
    merged.update({k: v for k, v in values.items() if k in FIELDS and not (k == "token" and not v)})
    clash = BrandChannel.objects.filter(platform=merged.get("platform"), chat=str(merged.get("chat") or "").strip())
    if clash.exclude(pk=channel.pk).exists():
        raise ServiceError({"chat": [_("this channel is already added")]})
    return _save(channel, merged, now=now)


def channel_check(*, channel: BrandChannel, now: datetime | None = None) -> BrandChannel:
    """Ask the platform again whether Tact can post there, and store the answer."""
    _checked(channel, now=now)
    channel.save(update_fields=["title", "can_post", "problem", "subscribers", "checked_at", "updated_at"])
    return channel


def channel_rights_changed(*, chat_id: int, username: str, status: str, can_post_messages: bool,
                           at: datetime) -> int:
    """Telegram told the bot (my_chat_member) that its status in a channel changed: a brand
    channel it is marks itself at once (removed, or no longer allowed to post), or clears its
    mark when the bot may post again. News older than the channel's last check changes
    nothing. How many channels changed."""
    from channels.brand_telegram import may_not_post, not_admin

    from .channel_results import telegram_channels

    changed = 0
    for channel in BrandChannel.objects.filter(telegram_channels(chat_id=chat_id, username=username)):
        if status == "administrator" and can_post_messages:
            can_post, problem = True, ""
        elif status == "administrator":
            can_post, problem = False, may_not_post()
        else:  # left, kicked, member, restricted: not an administrator any more
            can_post, problem = False, not_admin(channel.chat)
        changed += (BrandChannel.objects.filter(pk=channel.pk)
                    .filter(Q(checked_at__isnull=True) | Q(checked_at__lte=at))
                    .update(can_post=can_post, problem=problem, checked_at=at, updated_at=timezone.now()))
    return changed
