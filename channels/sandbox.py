"""The sandbox: a platform without credentials 'sends' into an outbox shown in the admin."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from .base import OutboundMessage, Outcome, PermanentFailure

# The platforms whose real adapters report deliveries and reads (Telegram's Bot API does not):
# their sandbox reports them too, a few seconds after "sending".
RECEIPT_PLATFORMS = ("whatsapp", "viber")


@dataclass(frozen=True)
class SandboxReceipts:
    """How long after sending the sandbox reports the message delivered and read (None: never)."""

    delivered_after: timedelta | None
    read_after: timedelta | None


def sandbox_receipts(message_id: str) -> SandboxReceipts:
    """The same for the same message id: 90 % delivered 1-3 s after sending, 70 % (of all)
    also read 2-6 s after that, so within 10 s."""
    h = int.from_bytes(hashlib.blake2b(message_id.encode(), digest_size=8).digest(), "big")
    share, h = h % 100, h // 100
    if share >= 90:
        return SandboxReceipts(None, None)
    delivered = timedelta(seconds=1 + h % 3)
    read = delivered + timedelta(seconds=2 + (h // 3) % 5) if share < 70 else None
    return SandboxReceipts(delivered, read)


def _message_id(message: OutboundMessage) -> str:
    """A ledger row's message id follows from its row; a test send (no row) gets a random one."""
    if message.delivery_id is None:
        return f"sandbox-test-{secrets.token_hex(8)}"
    return f"sandbox-{message.delivery_id}"


def _as_template(platform: str, message: OutboundMessage) -> bool:
    return platform == "whatsapp" and not message.window_open and message.template is not None


def _template_line(template: dict) -> str:
    """The outbox's text for a template message: which template, and its parameters."""
    parameters = ", ".join(str(p) for p in template.get("parameters") or [])
    return f"[template {template.get('name')} ({template.get('language')})]" + (f" {parameters}" if parameters else "")


def _window_refusal() -> PermanentFailure:
    # The real adapter's outcome (channels/whatsapp.py): our record says the window is
    # closed, so free text is never tried (WhatsApp would answer 131047).
    return PermanentFailure("outside WhatsApp's 24-hour window and the draft has no approved template")


@dataclass(frozen=True)
class SandboxClick:
    """Which of a message's tracked links the sandbox's person clicks, and how long after sending."""

    link: int  # its place among the message's tracked links, in the order they appear
    after: timedelta


def sandbox_click(message_id: str, links: int) -> SandboxClick | None:
    """The same for the same message id: a quarter of the messages with tracked links get a
    click 4-15 s after sending (mostly on the first link), the rest none."""
    if links <= 0:
        return None
    h = int.from_bytes(hashlib.blake2b(f"click:{message_id}".encode(), digest_size=8).digest(), "big")
    share, h = h % 100, h // 100
    if share >= 25:
        return None
    link = 0 if h % 3 or links == 1 else 1 + (h // 3) % (links - 1)
    return SandboxClick(link=link, after=timedelta(seconds=4 + (h // 300) % 12))


class SandboxSession:
    def __init__(self, platform: str):
        self._platform = platform

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        from .models import OutboxMessage

        # WhatsApp outside the 24-hour window takes only an approved template: the sandbox
        # records the template it would send, and refuses free text as the real adapter does.
        refused = [self._platform == "whatsapp" and not m.window_open and m.template is None for m in messages]
        OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    platform=self._platform, address=m.address, text=m.text, buttons=m.buttons,
                    delivery_id=m.delivery_id, media=m.media,
                )
                if not _as_template(self._platform, m) else
                OutboxMessage(
                    platform=self._platform, address=m.address, text=_template_line(m.template), buttons=[],
                    template=m.template, delivery_id=m.delivery_id, media=m.media,
                )
                for m, no in zip(messages, refused, strict=True) if not no
            ],
            ignore_conflicts=True,  # a row already in the outbox was already "sent"
        )
        return [Outcome(m.delivery_id, error=_window_refusal()) if no
                else Outcome(m.delivery_id, platform_message_id=_message_id(m))
                for m, no in zip(messages, refused, strict=True)]

    def reply(self, address: str, text: str) -> Outcome:
        from .models import OutboxMessage

        row = OutboxMessage.objects.create(platform=self._platform, address=address, text=text)
        return Outcome(0, platform_message_id=f"sandbox-reply-{row.pk}")

    def close(self) -> None:
        pass


class SandboxChannel:
    per_request = 1
    sandbox = True

    def __init__(self, platform: str):
        self.platform = platform

    def open(self) -> SandboxSession:
        return SandboxSession(self.platform)
