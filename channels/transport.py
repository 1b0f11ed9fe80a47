"""What an httpx error instead of an answer means, for every adapter: safe to send again
only when the request never left (connect error or timeout, pool timeout); after it was
written (read timeout, reset, dropped connection) the platform may have taken it."""

from __future__ import annotations

import httpx

from .base import ChannelError, TemporaryFailure, Uncertain

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def no_answer(platform: str, detail: str) -> Uncertain:
    return Uncertain(f"no answer from {platform}; it may have been sent ({detail})")


def transport_error(platform: str, exc: httpx.HTTPError) -> ChannelError:
    if isinstance(exc, NOT_SENT):
        return TemporaryFailure(f"{platform} not reached ({exc!r})")
    return no_answer(platform, repr(exc))
