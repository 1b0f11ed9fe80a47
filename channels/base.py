"""One small interface for every platform, and our own error types.

The delivery engine never imports a vendor library: each adapter converts its
vendor's errors into these at the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    delivery_id: int | None  # None: a test send, not a row of any campaign's ledger
    address: str
    text: str
    buttons: list[dict] = field(default_factory=list)
    # WhatsApp: an approved template for people outside the 24-hour window, and whether
    # the window is open (the person wrote to us in the last 24 hours).
    template: dict | None = None
    window_open: bool = True
    # One image, video or document (campaigns/delivery/outbound.py media_for): kind, name,
    # content_type, size, sha256, storage `path` or original `url`, and `public_url`.
    media: dict | None = None
    # Telegram: the message cannot be forwarded or saved (a VIP offer).
    protect_content: bool = False
    # Telegram: sent as a paid broadcast (allow_paid_broadcast), above the free 30 a second.
    paid_broadcast: bool = False


class ChannelError(Exception):
    """Why one message was not sent, in our terms."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class RateLimited(ChannelError):
    """The platform asked us to slow down; nothing was sent.

    `per_recipient`: only messages to this person must wait (WhatsApp's pair limit);
    otherwise the whole account must.
    """

    def __init__(self, reason: str, retry_after: float, *, per_recipient: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.per_recipient = per_recipient


class RecipientGone(ChannelError):
    """This person cannot or does not want to be reached (blocked, deactivated, unknown)."""

    def __init__(self, reason: str, status: str):
        super().__init__(reason)
        self.status = status  # Subscription.Status: "opted_out", "blocked" or "unreachable"


class TemporaryFailure(ChannelError):
    """The request provably never reached the platform, or the platform said it did not
    take it (connect error, connect or pool timeout, a documented "not accepted" answer):
    sending again is safe. Anything ambiguous is `Uncertain`, never this."""


class AccountRefused(ChannelError):
    """The platform refuses our account, not this person (revoked or expired token, spam
    limit, template paused, payment or balance): nothing was sent. The engine stops the
    campaign's sending with this reason shown and tries again after `retry_after` seconds;
    no row fails because of it."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class RecipientLimited(ChannelError):
    """The platform holds messages to this person for a while (WhatsApp 131049, Meta's
    per-person marketing limit): not sent, not failed; try again after `retry_after`."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class WindowClosed(ChannelError):
    """WhatsApp 131047: more than 24 hours since the person last wrote; free text was not
    taken, an approved template is needed."""


class PermanentFailure(ChannelError):
    """The platform refused this message; sending it again would fail the same way."""


class Uncertain(ChannelError):
    """No answer: the platform may or may not have sent it, so it is never resent."""


@dataclass(frozen=True)
class Outcome:
    delivery_id: int | None
    platform_message_id: str = ""
    error: ChannelError | None = None

    @property
    def sent(self) -> bool:
        return self.error is None


class ChannelSession(Protocol):
    """A connection to one platform account, open for one list."""

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        """Send these messages at once (concurrently); one outcome per message, same order."""
        ...

    def close(self) -> None: ...


class Channel(Protocol):
    platform: str
    sandbox: bool  # True: messages go to the outbox in the admin, not to the platform
    per_request: int  # messages one platform request carries (Viber broadcast: 300)

    def open(self) -> ChannelSession: ...
