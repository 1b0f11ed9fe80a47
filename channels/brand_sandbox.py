"""A brand channel on a platform without credentials: posts land in the sandbox outbox
(channels OutboxMessage) shown in the admin, as one-to-one messages do (channels/sandbox.py)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from .base import ChannelError
from .brand import ChannelCheck, ChannelPost, PostOutcome


class SandboxBrandClient:
    """Posts "go out" into the outbox; the check says so instead of asking a platform."""

    def __init__(self, platform: str, chat: str):
        self._platform = platform
        self._chat = chat

    def check(self) -> ChannelCheck:
        return ChannelCheck(title=self._chat, can_post=True,
                            problem=_("sandbox: no credentials for %(platform)s, posts go to the sandbox outbox")
                            % {"platform": self._platform})

    def publish(self, post: ChannelPost) -> PostOutcome:
        from .models import OutboxMessage

        row = OutboxMessage.objects.create(platform=self._platform, address=self._chat[:64], text=post.text,
                                           buttons=list(post.buttons), media=post.media)
        return PostOutcome(message_id=f"sandbox-post-{row.pk}")

    def pin(self, message_id: str) -> ChannelError | None:
        return None

    def subscriber_count(self) -> int | None:
        return None
