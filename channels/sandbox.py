"""The sandbox: a platform without credentials 'sends' into an outbox shown in the admin."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from .base import OutboundMessage, Outcome

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


class SandboxSession:
    def __init__(self, platform: str):
        self._platform = platform

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        from .models import OutboxMessage

        OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    platform=self._platform, address=m.address, text=m.text, buttons=m.buttons,
                    delivery_id=m.delivery_id,
                )
                for m in messages
            ],
            ignore_conflicts=True,  # a row already in the outbox was already "sent"
        )
        return [Outcome(m.delivery_id, platform_message_id=f"sandbox-{m.delivery_id}") for m in messages]

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
