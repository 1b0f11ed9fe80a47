"""The bot's Telegram Stars balance, read before a paid broadcast is scheduled.

shared/PLATFORMS.md ("Sending rates", "2025-2026 changes"): with `allow_paid_broadcast`
(Bot API 7.11) a bot sends up to 1,000 messages a second, "ignoring broadcasting limits",
for 0.1 Stars per message above the free 30 a second, charged only for messages
delivered; `getMyStarBalance` (Bot API 9.1) reads what the bot holds. Who is eligible is
disputed between Telegram's own pages (10,000 Stars on the API page, 100,000 Stars and
100,000 monthly users in the FAQ): we never assume, Telegram answers.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from .telegram import error_from

NANOSTARS = 10**9  # StarAmount.nanostar_amount counts 1/10^9 of a Star (the figures: channels/limits.py)


def star_balance(token: str, base_url: str, *, timeout: float = 10.0) -> Decimal:
    """The bot's Stars (getMyStarBalance: amount + nanostar_amount / 10^9). Raises our
    ChannelError when Telegram refuses the token or cannot be reached."""

    async def read() -> Decimal:
        request = HTTPXRequest(read_timeout=timeout, write_timeout=timeout, connect_timeout=min(timeout, 10.0),
                               pool_timeout=timeout)
        async with Bot(token, base_url=base_url, request=request) as bot:  # getMe, then shutdown
            balance = await bot.get_my_star_balance()
        return Decimal(balance.amount) + Decimal(balance.nanostar_amount or 0) / NANOSTARS

    try:
        return asyncio.run(read())
    except TelegramError as exc:
        raise error_from(exc) from exc
