"""Posting to the brand's own channels (a Telegram channel, a Viber Channel): one small
interface per platform, as channels/base.py is for one-to-one messages.

The engine (campaigns/delivery/publishing.py) never imports a vendor library: each client
converts its vendor's errors into channels/base.py's errors at the boundary (an answer lost
after the platform may have taken the post is `Uncertain`; a lost admin right or a refused
token is `AccountRefused`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .base import ChannelError

if TYPE_CHECKING:
    from campaigns.models import BrandChannel


@dataclass(frozen=True)
class ChannelCheck:
    """What the platform says about a channel: can we post there, and if not, why."""

    title: str = ""
    can_post: bool = False
    problem: str = ""  # what is missing, in words a marketer acts on ("the bot is not an administrator")
    subscribers: int | None = None


@dataclass(frozen=True)
class ChannelPost:
    """One post as the platform receives it."""

    text: str
    buttons: list[dict] = field(default_factory=list)
    media: dict | None = None  # as campaigns/delivery/outbound.py media_for gives it
    silent: bool = False  # Telegram disable_notification
    protect_content: bool = False  # Telegram protect_content


@dataclass(frozen=True)
class PostOutcome:
    message_id: str = ""
    error: ChannelError | None = None

    @property
    def published(self) -> bool:
        return self.error is None


class BrandChannelClient(Protocol):
    """One brand channel's account on its platform."""

    def check(self) -> ChannelCheck: ...

    def publish(self, post: ChannelPost) -> PostOutcome: ...

    def pin(self, message_id: str) -> ChannelError | None: ...

    def subscriber_count(self) -> int | None: ...


def brand_client_for(channel: BrandChannel) -> BrandChannelClient:
    """The channel's client: the real one when its platform has credentials (Telegram: the
    installation's bot; Viber: the channel's own token), else the sandbox."""
    from django.conf import settings

    if channel.platform == "telegram" and settings.TELEGRAM_BOT_TOKEN:
        from .brand_telegram import TelegramBrandClient

        return TelegramBrandClient(settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL, channel.chat,
                                   timeout=settings.TACT_SEND_TIMEOUT)
    if channel.platform == "viber" and channel.token:
        from .brand_viber import ViberBrandClient

        return ViberBrandClient(channel.token, channel.admin_id, settings.VIBER_API_URL,
                                timeout=settings.TACT_SEND_TIMEOUT)
    from .brand_sandbox import SandboxBrandClient

    return SandboxBrandClient(channel.platform, channel.chat)
