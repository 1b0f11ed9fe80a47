"""One event loop per list: adapters are async, the delivery engine is not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from .base import OutboundMessage, Outcome, Uncertain

log = logging.getLogger(__name__)


def unexpected(exc: BaseException) -> Uncertain:
    """A bug or a vendor surprise while sending: we cannot tell whether the message went."""
    log.error("unexpected error while sending", exc_info=exc)
    return Uncertain(f"unexpected error while sending; it may have been sent ({exc!r})")


class LoopSession:
    """Runs an adapter's coroutines on an event loop of its own, opened for one list and
    closed with it; clients made in `_open` live and die on that loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._open())
        except BaseException:
            self._loop.close()
            raise

    async def _open(self) -> None: ...

    async def _close(self) -> None: ...

    async def _send_one(self, message: OutboundMessage) -> Outcome:
        raise NotImplementedError

    async def _send_all(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        # One message's exception must not lose the outcomes of the others.
        results = await asyncio.gather(*(self._send_one(m) for m in messages), return_exceptions=True)
        return [
            Outcome(m.delivery_id, error=unexpected(r)) if isinstance(r, BaseException) else r
            for m, r in zip(messages, results, strict=True)
        ]

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        return self._loop.run_until_complete(self._send_all(messages))

    async def _reply(self, address: str, text: str) -> Outcome:
        raise NotImplementedError

    def reply(self, address: str, text: str) -> Outcome:
        """One message outside any campaign (a confirmation to a person who wrote to us)."""
        return self._loop.run_until_complete(self._reply(address, text))

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._close())
        finally:
            self._loop.close()
