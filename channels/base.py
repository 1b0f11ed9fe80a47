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
    delivery_id: int
    address: str
    text: str
    buttons: list[dict] = field(default_factory=list)
    # WhatsApp: an approved template for people outside the 24-hour window, and whether
    # the window is open (the person wrote to us in the last 24 hours).
    template: dict | None = None
    window_open: bool = True


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
    """The platform failed before taking the message; sending again is safe."""


class PermanentFailure(ChannelError):
    """The platform refused this message; sending it again would fail the same way."""


class Uncertain(ChannelError):
    """No answer: the platform may or may not have sent it, so it is never resent."""


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
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
