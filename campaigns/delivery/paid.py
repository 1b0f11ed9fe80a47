"""Telegram paid broadcasts: a campaign that opts in (`Campaign.paid_broadcast`) sends on
Telegram with `allow_paid_broadcast` (Bot API 7.11) at TACT_RATE_TELEGRAM_PAID instead of
the free ceiling, and pays Telegram Stars for it (shared/PLATFORMS.md, "Sending rates":
up to 1,000 messages a second, 0.1 Stars per message above the free 30 a second, charged
only for messages delivered).

The ceiling. Telegram's free 30 a second is per bot, and paid messages come on top of it
("ignoring broadcasting limits", in the Bot API's words). So a paid campaign reserves on a
limiter key of its own, `<the bot's key>:paid` (tact:rate:telegram:paid), shared by every
paid campaign of that bot across all workers, while the bot's free campaigns keep their
30 a second on the usual key. While a free and a paid campaign of the same bot run at the
same time the bot sends up to TACT_RATE_TELEGRAM + TACT_RATE_TELEGRAM_PAID a second; an
operator who wants Telegram's 1,000 as a hard total sets TACT_RATE_TELEGRAM_PAID=970.

The cost. A second in which the campaign sends b messages costs 0.1 * max(0, b - 30)
Stars. The limiter keeps every second at or under the paid ceiling R, and for b <= R,
b - 30 <= b * (1 - 30/R); summed over the campaign's n messages:

    stars = ceil(0.1 * max(0, n - 30 * n / R))

that is, 0.1 Star for each message above what the free 30 a second would have carried in
the n / R seconds the campaign takes at R. It is the most Telegram charges when the bot
sends nothing else meanwhile (exact when every second is full): other traffic of the same
bot uses up the free 30 first, and then every paid message may cost 0.1 Star.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

from django.conf import settings
from django.utils.translation import gettext as _

from channels.base import OutboundMessage
from channels.limits import (
    TELEGRAM_FREE_PER_SECOND,
    TELEGRAM_PAID_MAX_PER_SECOND,
    TELEGRAM_STARS_PER_PAID_MESSAGE,
)

from ..models import Campaign


def stars_cost(receivers: int, rate: float | None) -> int:
    """Whole Stars a paid broadcast to `receivers` people at `rate` a second costs at most:
    ceil(0.1 * max(0, n - 30 * n / R)) (see the module's docstring). No ceiling (None), or
    one above Telegram's 1,000, counts at 1,000: Telegram sends no faster."""
    if receivers <= 0:
        return 0
    ceiling = Fraction(min(rate, TELEGRAM_PAID_MAX_PER_SECOND) if rate else TELEGRAM_PAID_MAX_PER_SECOND)
    free = TELEGRAM_FREE_PER_SECOND * receivers / ceiling  # what the free 30 a second carry meanwhile
    return math.ceil(TELEGRAM_STARS_PER_PAID_MESSAGE * max(0, receivers - free))


def paid_rate() -> float | None:
    """The ceiling of a paid broadcast, messages a second (None: none but Telegram's)."""
    return settings.TACT_RATE_TELEGRAM_PAID


def is_paid(campaign: Campaign, platform: str) -> bool:
    """True when this campaign's messages on `platform` go as a paid broadcast."""
    return bool(campaign.paid_broadcast) and platform == "telegram"


def paid_key(limiter_key: str) -> str:
    """The shared limiter key of the bot's paid broadcasts, beside its free one."""
    return f"{limiter_key}:paid"


def as_paid(batch: Sequence[OutboundMessage]) -> list[OutboundMessage]:
    """The messages, marked to go with allow_paid_broadcast."""
    return [replace(m, paid_broadcast=True) for m in batch]


def telegram_paid(receivers: int) -> dict:
    """The forecast of a paid broadcast to `receivers` Telegram people: its ceiling, its
    time at that ceiling and the Stars it costs at most."""
    rate = paid_rate()
    return {
        "stars": stars_cost(receivers, rate),
        "rate_per_second": rate,
        "seconds": round(receivers / rate, 1) if rate else None,
        "note": _("at most: 0.1 Telegram Star per message above the free %(free)s a second, when the bot sends "
                  "nothing else meanwhile; scheduling checks the bot's balance")
        % {"free": TELEGRAM_FREE_PER_SECOND},
    }


def paid_forecast(*, campaign: Campaign, platforms: dict[str, dict]) -> dict | None:
    """For a campaign that opts in: the forecast's `telegram_paid`, and its Telegram row
    set to the paid ceiling and time; None otherwise."""
    row = platforms.get("telegram")
    if not campaign.paid_broadcast or row is None:
        return None
    paid = telegram_paid(row["receivers"])
    row["rate_per_second"], row["seconds"] = paid["rate_per_second"], paid["seconds"]
    return paid
