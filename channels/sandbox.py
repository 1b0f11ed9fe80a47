"""The sandbox: a platform without credentials 'sends' into an outbox shown in the admin."""

from __future__ import annotations

from collections.abc import Sequence

from .base import OutboundMessage, Outcome


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
